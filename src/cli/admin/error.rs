//! The operator CLI's errors: each is one line on stderr and a documented exit code.

use std::process::ExitCode;

/// Why an `admin` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or the environment is wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The gateway answered with an error status (exit code 1).
    #[error("the gateway refused: {status} {code}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's stable error code (`unauthorized`, `not_found`, …).
        code: String,
        /// The API's message, made one line.
        message: String,
    },
    /// The gateway could not be reached, or did not answer in time (exit code 3).
    #[error("cannot reach the gateway at {url}: {reason}")]
    Unreachable {
        /// The base URL that was tried.
        url: String,
        /// The innermost cause.
        reason: String,
    },
    /// The gateway answered something that is not the API's JSON (exit code 4).
    #[error("unexpected answer from the gateway: {0}")]
    BadResponse(String),
    /// Writing to stdout failed (exit code 5).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code of this error (documented in docs/OPERATIONS.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Refused { .. } => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable { .. } => 3,
            CliError::BadResponse(_) => 4,
            CliError::Output(_) => 5,
        }
    }

    /// Prints the error as one line on stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        let line = match self {
            CliError::Refused { status: 401, .. } => format!(
                "{self} (check GATEWAY_ADMIN_TOKEN: it must be the token the gateway was started with)"
            ),
            _ => self.to_string(),
        };
        eprintln!("agent-gateway: {}", one_line(&line));
        ExitCode::from(self.exit_code())
    }
}

/// Replaces control characters (newlines included) so a message stays one line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
