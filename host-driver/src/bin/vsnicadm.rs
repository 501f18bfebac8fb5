//! vsnicadm — ipvsadm's command line for vsnic. See `vsnic_host::cli`.
#![deny(unsafe_code)]

use std::process::ExitCode;

use vsnic_host::cli::{self, Action, CliError};
use vsnic_host::control::{self, Request, Response};

fn main() -> ExitCode {
    let cmd = match cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(CliError::Clap(e)) => e.exit(),
        Err(CliError::Usage(msg)) => {
            eprintln!("vsnicadm: {msg}");
            eprintln!("Try `vsnicadm --help' for more information.");
            return ExitCode::from(2);
        }
    };
    let request = match &cmd.action {
        Action::Request(r) => r.clone(),
        Action::List { connections: false } => Request::List,
        Action::List { connections: true } => Request::Connections,
    };
    match control::call(&cmd.socket, &request) {
        Ok(Response::Ok) => ExitCode::SUCCESS,
        Ok(Response::Services {
            table_size,
            services,
        }) => {
            print!("{}", cli::format_services(table_size, &services));
            ExitCode::SUCCESS
        }
        Ok(Response::Connections { connections }) => {
            print!("{}", cli::format_connections(&connections));
            ExitCode::SUCCESS
        }
        Ok(Response::Counters { nic, daemon }) => {
            println!("{nic:#?}\n{daemon:#?}");
            ExitCode::SUCCESS
        }
        Ok(Response::Error { message }) => {
            eprintln!("vsnicadm: {message}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("vsnicadm: {e}");
            ExitCode::FAILURE
        }
    }
}
