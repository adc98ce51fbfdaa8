//! The built-in pages (`/ui`): sign-in, CSRF and export over plain HTTP on both
//! engines ([`http`]), and the flows in a real browser ([`browser`]).

mod browser;
mod http;
mod webdriver;
