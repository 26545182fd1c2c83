"""The tree of everything parsed from the dump; each label carries its worst finding's mark.

The tree is on the first screen, drawn before anything of efitables is imported: the helpers that label
parsed nodes are imported where nodes are added (the parser has loaded them by then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

if TYPE_CHECKING:
    from efitables_tui.nodes import DumpModel, Node

#: The last line of the tree while the dump is parsed.
LOADING_LABEL = "parsing the dump…"


def node_label(node: Node) -> Text:
    from efitables_tui.text import SEV_MARK, SEV_STYLE, plain

    worst = node.worst()
    label = Text()
    if worst is not None:
        label.append(f"{SEV_MARK[worst]} ", style=SEV_STYLE[worst])
    label.append_text(plain(node.label, limit=120))
    if node.address is not None and node.kind not in ("range",):
        label.append(f" @{node.address:#x}", style="dim")
    return label


class StructureTree(Tree["Node"]):
    """Containers, boot_params and setup_data, the EFI system table and its tables, SNP pages, memory maps."""

    BINDINGS = [
        Binding("right", "expand_or_child", "Expand", show=False),
        Binding("left", "collapse_or_parent", "Collapse", show=False),
    ]

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text("dump"), name=name, id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 3
        self._by_key: dict[str, TreeNode[Node]] = {}
        self._loading: TreeNode[Node] | None = None

    def populate(self, model: DumpModel) -> None:
        """The whole tree of ``model`` at once."""
        self.clear()
        self._by_key.clear()
        self._loading = None
        for r in model.roots:
            self.add_root(r)
        self.root.expand()

    # -- filled while the dump is parsed ----------------------------------------------
    def begin(self) -> None:
        """Empty, with one "parsing" line, which top-level nodes are added above (:meth:`add_root`)."""
        self.clear()
        self._by_key.clear()
        self._loading = self.root.add_leaf(Text(LOADING_LABEL, style="dim italic"))
        self.root.expand()

    @property
    def parsing(self) -> bool:
        return self._loading is not None

    def add_root(self, node: Node) -> TreeNode[Node]:
        """A top-level node and its subtree (expanded, but for the container's), above the "parsing" line."""
        return self._add(self.root, node, expand=node.kind not in ("dump",), before=self._loading)

    def finish(self, model: DumpModel, cursor_to: Node | None = None) -> None:
        """The dump is parsed: drop the "parsing" line (a cursor on it moves to ``cursor_to`` first); the tree
        is ``model``'s (rebuilt only if the roots added while parsing are not the model's)."""
        added = [tn.data for tn in self.root.children if tn.data is not None]
        if len(added) != len(model.roots) or any(a is not b for a, b in zip(added, model.roots, strict=False)):
            self.populate(model)
            return
        if self._loading is not None:
            target = self.tree_node(cursor_to) if cursor_to is not None else None
            if self.cursor_node is self._loading and target is not None:
                self.move_cursor(target)  # (the cursor cannot be unset: it would land on line 0)
            self._loading.remove()
            self._loading = None

    def _add(
        self, parent: TreeNode[Node], node: Node, expand: bool = False, before: TreeNode[Node] | None = None
    ) -> TreeNode[Node]:
        tn = parent.add(node_label(node), data=node, expand=expand, allow_expand=bool(node.children), before=before)
        self._by_key[node.key] = tn
        for c in node.children:
            self._add(tn, c, expand=False)
        return tn

    def action_expand_or_child(self) -> None:
        tn = self.cursor_node
        if tn is None or not tn.allow_expand:
            return
        if not tn.is_expanded:
            tn.expand()
        elif tn.children:
            self.move_cursor(tn.children[0])

    def action_collapse_or_parent(self) -> None:
        tn = self.cursor_node
        if tn is None:
            return
        if tn.is_expanded and tn.children:
            tn.collapse()
        elif tn.parent is not None and tn.parent is not self.root:
            self.move_cursor(tn.parent)

    def tree_node(self, node: Node) -> TreeNode[Node] | None:
        return self._by_key.get(node.key)

    def select(self, node: Node) -> bool:
        """Expand the path to ``node`` and move the cursor there (which shows it)."""
        tn = self.tree_node(node)
        if tn is None:
            return False
        p = tn.parent
        while p is not None:
            p.expand()
            p = p.parent
        self.call_after_refresh(self._finish_select, tn)
        return True

    def _finish_select(self, tn: TreeNode[Node]) -> None:
        self.move_cursor(tn)
        self.scroll_to_node(tn, animate=False)
