"""Language codes (`xxx_Scrp`), scripts, names and resource groups."""

from emma.languages.codes import is_valid, language_name, macrolanguage, members, normalize, resolve, split
from emma.languages.groups import GROUPS, THRESHOLDS, group_for_tokens, load_resource_groups
from emma.languages.scripts import detect_script, script_shares

__all__ = [
    "GROUPS",
    "THRESHOLDS",
    "detect_script",
    "group_for_tokens",
    "is_valid",
    "language_name",
    "load_resource_groups",
    "macrolanguage",
    "members",
    "normalize",
    "resolve",
    "script_shares",
    "split",
]
