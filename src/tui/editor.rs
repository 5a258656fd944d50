//! Handing the terminal to `$EDITOR` and taking it back, as lazygit and k9s do.
//!
//! Terminal input is read by a thread of its own that can be paused: while the editor runs,
//! nothing in roomwatch reads the terminal, so no keystroke meant for the editor is taken.
//! (crossterm's `EventStream` keeps a reader blocked on the terminal, which would steal one.)

use std::io;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crossterm::event::Event as TermEvent;
use futures_util::Stream;
use tokio::sync::mpsc as async_mpsc;

/// How long the input thread waits for a key before it checks for a pause.
const POLL: Duration = Duration::from_millis(100);

enum Control {
    Pause,
    Resume,
}

/// Pauses and resumes the input thread.
pub struct InputControl {
    control: mpsc::Sender<Control>,
    paused: mpsc::Receiver<()>,
}

impl InputControl {
    /// Returns once the input thread has stopped reading the terminal.
    fn pause(&self) {
        if self.control.send(Control::Pause).is_ok() {
            let _ = self.paused.recv_timeout(Duration::from_secs(1));
        }
    }

    fn resume(&self) {
        let _ = self.control.send(Control::Resume);
    }
}

/// Terminal events from a pausable reader thread.
pub fn terminal_input() -> (impl Stream<Item = io::Result<TermEvent>>, InputControl) {
    let (events, stream) = async_mpsc::unbounded_channel();
    let (control, commands) = mpsc::channel();
    let (ack, paused) = mpsc::channel();
    std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || read_input(&events, &commands, &ack))
        .ok();
    let stream = futures_util::stream::unfold(stream, |mut stream| async move {
        stream.recv().await.map(|event| (event, stream))
    });
    (stream, InputControl { control, paused })
}

fn read_input(
    events: &async_mpsc::UnboundedSender<io::Result<TermEvent>>,
    commands: &mpsc::Receiver<Control>,
    ack: &mpsc::Sender<()>,
) {
    loop {
        match commands.try_recv() {
            Ok(Control::Pause) => {
                let _ = ack.send(());
                // Wait for the resume without touching the terminal.
                loop {
                    match commands.recv() {
                        Ok(Control::Resume) => break,
                        Ok(Control::Pause) => {
                            let _ = ack.send(());
                        }
                        Err(_) => return,
                    }
                }
            }
            Ok(Control::Resume) | Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => return,
        }
        let event = match crossterm::event::poll(POLL) {
            Ok(false) => continue,
            Ok(true) => crossterm::event::read(),
            Err(e) => Err(e),
        };
        let failed = event.is_err();
        if events.send(event).is_err() || failed {
            return;
        }
    }
}

/// Why an edit sent nothing.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot write the temporary file: {0}")]
    Write(io::Error),
    #[error("cannot start the editor {editor:?}: {error}")]
    Start { editor: String, error: io::Error },
    #[error("the editor exited with {0}; nothing sent")]
    Status(std::process::ExitStatus),
    #[error("the edited body is not JSON ({0}); nothing sent")]
    NotJson(serde_json::Error),
}

/// Opens the real terminal's `$EDITOR` on a body and takes the terminal back after.
pub struct Editor {
    pub input: InputControl,
    pub mouse: bool,
}

impl Editor {
    /// Lets the user edit `body` (pretty-printed when it is JSON) in `$EDITOR` (else `vi`).
    /// Returns the edited bytes when the editor exits 0 and they parse as JSON.
    pub fn edit(&self, seq: u64, body: &[u8]) -> Result<Vec<u8>, EditError> {
        let text = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| serde_json::to_vec_pretty(&v).ok())
            .unwrap_or_else(|| body.to_vec());
        let path = temp_path(seq);
        std::fs::write(&path, &text).map_err(EditError::Write)?;
        let editor = std::env::var("EDITOR")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| "vi".into());
        self.input.pause();
        super::terminal::restore();
        // Through the shell, so that EDITOR may carry arguments ("code -w").
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("roomwatch-editor")
            .arg(&path)
            .status();
        let resumed = super::terminal::resume(self.mouse);
        self.input.resume();
        let edited = std::fs::read(&path);
        let _ = std::fs::remove_file(&path);
        if let Err(error) = resumed {
            tracing::error!(%error, "cannot take the terminal back after the editor");
        }
        let status = status.map_err(|error| EditError::Start {
            editor: editor.clone(),
            error,
        })?;
        if !status.success() {
            return Err(EditError::Status(status));
        }
        let edited = edited.map_err(EditError::Write)?;
        serde_json::from_slice::<serde_json::Value>(&edited).map_err(EditError::NotJson)?;
        Ok(edited)
    }
}

fn temp_path(seq: u64) -> PathBuf {
    std::env::temp_dir().join(format!(
        "roomwatch-{}-callback-{seq}.json",
        std::process::id()
    ))
}
