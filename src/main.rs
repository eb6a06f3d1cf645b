//! The `alp-connex` binary: one executable, one role per subcommand.

use clap::Parser;

/// alp-connex: IEC 60870-5-104 and MQTT into one Valkey process image.
#[derive(Debug, Parser)]
#[command(name = "alp-connex", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
