//! The command line of the example server.

use std::ffi::OsString;
use std::path::PathBuf;

/// The help text.
pub const USAGE: &str = "\
usage: server [--addr HOST:PORT] [--seed FILE] [--allow-origin ORIGIN]... [--quiet]

  --addr HOST:PORT        where to listen (default 127.0.0.1:3000; port 0 picks a free one)
  --seed FILE             the keys, rooms and users, as JSON (default: the built-in demo seed)
  --allow-origin ORIGIN   let browsers on ORIGIN (scheme://host[:port]) call the endpoints;
                          may be repeated (default: no CORS)
  -q, --quiet             log warnings and errors only, no line per request (for load tests)
  -h, --help              print this text";

/// The example server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// Where to listen.
    pub addr: String,
    /// The seed file, if not the demo seed.
    pub seed: Option<PathBuf>,
    /// Origins let through CORS.
    pub allowed_origins: Vec<String>,
    /// Whether to log warnings and errors only, without a line per request.
    pub quiet: bool,
}

/// A command line that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// An option that does not exist.
    #[error("unknown argument `{0}`")]
    Unknown(String),
    /// An option given without its value.
    #[error("`{0}` needs a value")]
    MissingValue(&'static str),
    /// An argument that is not UTF-8.
    #[error("arguments must be UTF-8")]
    NotUtf8,
}

impl ServerArgs {
    /// Parses the arguments after the program name; `Ok(None)` when help was asked for.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Self>, ArgsError> {
        let mut parsed = Self {
            addr: "127.0.0.1:3000".to_owned(),
            seed: None,
            allowed_origins: Vec::new(),
            quiet: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let arg = arg.into_string().map_err(|_| ArgsError::NotUtf8)?;
            let (name, inline_value) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (arg, None),
            };
            let mut value = |option: &'static str| -> Result<String, ArgsError> {
                match inline_value.clone() {
                    Some(value) => Ok(value),
                    None => args
                        .next()
                        .ok_or(ArgsError::MissingValue(option))?
                        .into_string()
                        .map_err(|_| ArgsError::NotUtf8),
                }
            };
            match name.as_str() {
                "-h" | "--help" => return Ok(None),
                "--addr" => parsed.addr = value("--addr")?,
                "--seed" => parsed.seed = Some(PathBuf::from(value("--seed")?)),
                "--allow-origin" => parsed.allowed_origins.push(value("--allow-origin")?),
                "-q" | "--quiet" => parsed.quiet = true,
                _ => return Err(ArgsError::Unknown(name)),
            }
        }
        Ok(Some(parsed))
    }
}
