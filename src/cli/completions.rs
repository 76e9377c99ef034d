//! `reachlab completions SHELL`: a shell completion script, from clap's own description of
//! the command line.

use clap::CommandFactory;

/// `reachlab completions`'s arguments.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

pub fn run(a: CompletionsArgs) -> i32 {
    clap_complete::generate(
        a.shell,
        &mut super::Cli::command(),
        "reachlab",
        &mut std::io::stdout(),
    );
    0
}
