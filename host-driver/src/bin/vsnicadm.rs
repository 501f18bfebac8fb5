//! vsnicadm — ipvsadm's command line for vsnic. See `vsnic_host::cli`.
#![deny(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use vsnic_host::cli::{self, Action, CliError};
use vsnic_host::control::{self, Request, Response};

fn usage_exit(msg: &str) -> ExitCode {
    eprintln!("vsnicadm: {msg}");
    eprintln!("Try `vsnicadm --help' for more information.");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cmd = match cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(CliError::Clap(e)) => e.exit(),
        Err(CliError::Usage(msg)) => return usage_exit(&msg),
    };
    let request = match &cmd.action {
        Action::Request(r) => r.clone(),
        Action::List(_) | Action::Save { .. } => Request::List,
        Action::ListConnections => Request::Connections,
        Action::ListTimeouts => Request::Timeouts,
        Action::NicStats => Request::Counters,
        Action::Restore => {
            let mut text = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                eprintln!("vsnicadm: reading rules from stdin: {e}");
                return ExitCode::FAILURE;
            }
            match cli::parse_rules(&text) {
                Ok(r) => r,
                Err(CliError::Usage(msg)) => return usage_exit(&msg),
                Err(CliError::Clap(e)) => e.exit(),
            }
        }
    };
    match control::call(&cmd.socket, &request) {
        Ok(Response::Ok) => ExitCode::SUCCESS,
        Ok(Response::Services {
            table_size,
            services,
        }) => {
            match &cmd.action {
                Action::Save { service } => print!("{}", cli::format_save(&services, *service)),
                Action::List(opts) => {
                    print!("{}", cli::format_services(table_size, &services, opts))
                }
                _ => print!(
                    "{}",
                    cli::format_services(table_size, &services, &Default::default())
                ),
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Connections { connections }) => {
            print!("{}", cli::format_connections(&connections));
            ExitCode::SUCCESS
        }
        Ok(Response::Timeouts { tcp, tcpfin, udp }) => {
            print!("{}", cli::format_timeouts(tcp, tcpfin, udp));
            ExitCode::SUCCESS
        }
        Ok(Response::Counters {
            nic,
            daemon,
            device,
        }) => {
            print!("{}", cli::format_nic_stats(&nic, &daemon, &device));
            ExitCode::SUCCESS
        }
        Ok(Response::Metrics { text }) => {
            print!("{text}");
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
