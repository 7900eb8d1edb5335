"""Reading result rows back: ``summary`` (the quick table of ``coreset-bench results``, no
matplotlib), ``build`` (``coreset-bench report``: tables, figures, the paper comparison),
``paper`` (the paper's claims judged), ``theory`` (Theorem 5), ``investigations`` (ablations),
``paper_values`` (the paper's own numbers, their one home). Imports stay lazy: importing this
package loads nothing."""
