"""The tree of everything parsed from the dump; each label carries its worst finding's mark.

The tree is on the first screen, drawn before anything of efitables is imported: the helpers that label
parsed nodes are imported where nodes are added (the parser has loaded them by then).

What is expanded at first and how a node is labelled is :mod:`efitables_tui.nodes`' (``expanded_by_default``,
``tree_label``): the configuration tables open, each as its name and the address of its table; the memory
maps closed. A configuration table's label too wide for the tree is shortened in its name, never in its address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

if TYPE_CHECKING:
    from efitables_tui.nodes import DumpModel, Node

#: The last line of the tree while the dump is parsed.
LOADING_LABEL = "parsing the dump…"
#: A name is not shortened below this many cells to keep its address in view (the line is cut instead).
MIN_NAME_CELLS = 6
#: Cells of indentation per level; NARROW_GUIDE in a tree narrower than NARROW_TREE (an 80-column terminal).
GUIDE = 3
NARROW_GUIDE = 2
NARROW_TREE = 40


def node_label(node: Node) -> tuple[Text, int]:
    """The tree label of ``node`` (worst finding's mark, name, address) and how many characters at its end
    must stay visible when it is shortened: a configuration table's address (what its line is for); other
    lines are cut at the tree's edge (their address is in the detail pane's title)."""
    from efitables_tui.nodes import tree_label
    from efitables_tui.text import SEV_MARK, SEV_STYLE, plain

    name, address = tree_label(node)
    worst = node.worst()
    label = Text()
    if worst is not None:
        label.append(f"{SEV_MARK[worst]} ", style=SEV_STYLE[worst])
    label.append_text(plain(name, limit=120))
    keep = 0
    if address:
        table = node.kind == "EFI_CONFIGURATION_TABLE"
        tail = ("  " if table else " ") + address
        label.append(tail, style="dim")
        keep = len(tail) if table else 0
    return label, keep


class StructureTree(Tree["Node"]):
    """Containers, boot_params and setup_data, the EFI system table and its tables, SNP pages, memory maps."""

    BINDINGS = [
        Binding("right", "expand_or_child", "Expand", show=False),
        Binding("left", "collapse_or_parent", "Collapse", show=False),
    ]

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        #: Tree node id -> characters at the end of its label to keep in view (its address); before Tree's own
        #: __init__, which renders the root's label.
        self._keep: dict[int, int] = {}
        super().__init__(Text("dump"), name=name, id=id, classes=classes)
        self.show_root = False
        self.guide_depth = GUIDE
        self._by_key: dict[str, TreeNode[Node]] = {}
        self._loading: TreeNode[Node] | None = None

    def populate(self, model: DumpModel) -> None:
        """The whole tree of ``model`` at once."""
        self.clear()
        self._by_key.clear()
        self._keep.clear()
        self._loading = None
        for r in model.roots:
            self.add_root(r)
        self.root.expand()

    # -- filled while the dump is parsed ----------------------------------------------
    def begin(self) -> None:
        """Empty, with one "parsing" line, which top-level nodes are added above (:meth:`add_root`)."""
        self.clear()
        self._by_key.clear()
        self._keep.clear()
        self._loading = self.root.add_leaf(Text(LOADING_LABEL, style="dim italic"))
        self.root.expand()

    @property
    def parsing(self) -> bool:
        return self._loading is not None

    def add_root(self, node: Node) -> TreeNode[Node]:
        """A top-level node and its subtree, above the "parsing" line (expanded as
        :func:`~efitables_tui.nodes.expanded_by_default` says)."""
        return self._add(self.root, node, before=self._loading)

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

    def _add(self, parent: TreeNode[Node], node: Node, before: TreeNode[Node] | None = None) -> TreeNode[Node]:
        from efitables_tui.nodes import expanded_by_default

        label, keep = node_label(node)
        expand = expanded_by_default(node) and bool(node.children)
        tn = parent.add(label, data=node, expand=expand, allow_expand=bool(node.children), before=before)
        self._by_key[node.key] = tn
        if keep:
            self._keep[tn.id] = keep
        for c in node.children:
            self._add(tn, c)
        return tn

    def on_resize(self, event: events.Resize) -> None:
        guide = NARROW_GUIDE if 0 < event.size.width < NARROW_TREE else GUIDE
        if guide != self.guide_depth:
            self.guide_depth = guide

    def render_label(self, node: TreeNode[Node], base_style: Style, style: Style) -> Text:
        """The label, its name shortened with an ellipsis when the line is wider than the tree, so that the
        address at its end stays in view (the tree does not scroll sideways)."""
        text = super().render_label(node, base_style, style)
        keep = self._keep.get(node.id, 0)
        if not keep:
            return text
        depth = 0
        p = node.parent
        while p is not None and p is not self.root:
            depth += 1
            p = p.parent
        room = self.scrollable_content_region.width - depth * self.guide_depth
        if room <= 0 or text.cell_len <= room or room - keep < MIN_NAME_CELLS:
            return text
        head, tail = text.divide([len(text) - keep])
        head.truncate(room - keep, overflow="ellipsis")
        head.append_text(tail)
        return head

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
        """Expand the path to ``node``, move the cursor there (which shows it) and scroll it into view."""
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
        # The lines of the path just opened: a node's line number is set when Textual (8.2.8) rebuilds them,
        # lazily, on the property ``_tree_lines``; moving the cursor to a stale line would select another node.
        self._tree_lines  # noqa: B018
        if tn.line < 0:
            return  # (no longer in the tree: it was rebuilt meanwhile)
        self.move_cursor(tn)
        self.scroll_to_node(tn, animate=False)
