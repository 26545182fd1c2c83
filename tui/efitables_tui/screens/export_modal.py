"""Export: where to write the selected object's JSON. Returns the path written, or None.

The default path (the export directory, by default the current one, and ``KIND-ADDRESS.json``) is shown in
an editable input. Enter writes; Escape cancels and writes nothing. A file that exists is overwritten only
after a second Enter on the same path (the first one says so); a path that cannot be written (a missing
directory, no permission, a directory) is reported here, and the modal stays open to fix it.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from efitables_tui.text import plain


class ExportModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_path: str, text: str, what: str) -> None:
        super().__init__()
        self.default_path = default_path
        #: The JSON to write.
        self.text = text
        self.what = what
        #: The existing file a first Enter warned about: a second Enter on it overwrites it.
        self.confirm: str | None = None
        #: What the modal says under the path.
        self.status = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="modal-box"):
            title = Text("Export ")
            title.append_text(plain(self.what, "bold", limit=80))
            title.append(" as JSON to (enter writes, escape cancels):")
            yield Static(title)
            yield Input(value=self.default_path, id="export-path")
            yield Label("", id="export-status")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    def _status(self, message: str, error: bool = True) -> None:
        """Say ``message`` under the path (a path typed or derived from the dump's objects: escaped)."""
        self.status = message
        label = self.query_one("#export-status", Label)
        label.update(Text("\n").join(plain(line, limit=400) for line in message.split("\n")))
        label.set_class(error, "error")
        label.set_class(not error, "warning")

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.confirm is not None and event.value.strip() != self.confirm:
            self.confirm = None  # another path: its own confirmation
            self._status("", error=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = os.path.expanduser(event.value.strip())
        if not path:
            self._status("No path given.")
            return
        if os.path.isdir(path):
            self._status(f"That is a directory: give a file name.\n{path}")
            return
        exists = os.path.lexists(path)
        if exists and self.confirm != event.value.strip():
            self._ask_overwrite(event.value.strip(), path)
            return
        try:
            # "x": a file that appeared since the check is not overwritten unasked
            with open(path, "w" if exists else "x", encoding="utf-8") as fh:
                fh.write(self.text)
        except FileExistsError:
            self._ask_overwrite(event.value.strip(), path)
            return
        except OSError as e:
            self._status(f"Cannot write: {e.strerror or e}.\n{path}")
            return
        self.dismiss(path)

    def _ask_overwrite(self, typed: str, path: str) -> None:
        self.confirm = typed
        self._status(f"The file exists: press enter again to overwrite it, escape to cancel.\n{path}", error=False)

    def action_cancel(self) -> None:
        self.dismiss(None)
