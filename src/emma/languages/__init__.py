"""Language codes (`xxx_Scrp`), scripts, names and resource groups."""

from emma.languages.codes import is_valid, language_name, macrolanguage, members, normalize, resolve, split
from emma.languages.groups import GROUPS, THRESHOLDS, ResourceGroups, group_for_tokens, load_resource_groups, resource_group
from emma.languages.scripts import chinese_script, detect_script, script_shares

__all__ = [
    "GROUPS",
    "THRESHOLDS",
    "ResourceGroups",
    "chinese_script",
    "detect_script",
    "group_for_tokens",
    "is_valid",
    "language_name",
    "load_resource_groups",
    "macrolanguage",
    "members",
    "normalize",
    "resolve",
    "resource_group",
    "script_shares",
    "split",
]
