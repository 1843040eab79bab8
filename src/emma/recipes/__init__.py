"""Recipes chain the stages through their files: `emma demo` is one."""
