"""Reports: Markdown tables and plots."""
