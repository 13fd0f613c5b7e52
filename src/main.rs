use std::process::ExitCode;

use clap::Parser;
use keeper_tui::cli::Cli;

fn main() -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("keeper-tui: cannot install error reporting: {e}");
    }
    let cli = Cli::parse();
    match keeper_tui::verbs::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "keeper-tui: {}",
                keeper_tui::text::printable_lines(&e.to_string())
            );
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
