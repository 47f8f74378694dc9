//! The kubeboot binary: parse the command line, run one command, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    kubeboot::cli::main()
}
