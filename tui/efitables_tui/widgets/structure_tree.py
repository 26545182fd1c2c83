"""The tree of everything parsed from the dump; each label carries its worst finding's mark."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from efitables_tui.nodes import DumpModel, Node
from efitables_tui.text import SEV_MARK, SEV_STYLE, plain


def node_label(node: Node) -> Text:
    worst = node.worst()
    label = Text()
    if worst is not None:
        label.append(f"{SEV_MARK[worst]} ", style=SEV_STYLE[worst])
    label.append_text(plain(node.label, limit=120))
    if node.address is not None and node.kind not in ("range",):
        label.append(f" @{node.address:#x}", style="dim")
    return label


class StructureTree(Tree[Node]):
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

    def populate(self, model: DumpModel) -> None:
        self.clear()
        self._by_key.clear()
        for r in model.roots:
            self._add(self.root, r, expand=r.kind not in ("dump",))
        self.root.expand()

    def _add(self, parent: TreeNode[Node], node: Node, expand: bool = False) -> None:
        tn = parent.add(node_label(node), data=node, expand=expand, allow_expand=bool(node.children))
        self._by_key[node.key] = tn
        for c in node.children:
            self._add(tn, c, expand=False)

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
