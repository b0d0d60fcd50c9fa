"""The complaint category tree (四级分类) and its responsibility grid (网格化).

Levels 1-3 are national, level 4 local; each node names the department and person
responsible for its complaints, with regional exceptions. Tickets carry node codes in
``category_l1`` .. ``category_l4``.

>>> from ticketflow.catalog import Catalog, CatalogDispatch, ClassificationCheck
>>> catalog = Catalog(engine)
>>> catalog.import_default()            # or catalog.import_file("categories.csv")
>>> tree = catalog.tree()
>>> tree.label("BIL0101")               # '计费类/话费争议/重复扣费'
>>> engine = Engine(url, plugins=[CatalogDispatch(), ClassificationCheck()])

Files: :mod:`ticketflow.catalog.files`; validation: :mod:`ticketflow.catalog.checks`;
storage: :mod:`ticketflow.catalog.store`; plugins: :mod:`ticketflow.catalog.dispatch`.
"""

from __future__ import annotations

from ticketflow.catalog.dispatch import CatalogDispatch, ClassificationCheck, grid_rules
from ticketflow.catalog.errors import (
    CatalogFileError,
    ClassificationError,
    Problem,
    UnknownCategoryError,
)
from ticketflow.catalog.files import (
    dump_csv,
    dump_json,
    parse_csv,
    parse_json,
    read_file,
    write_file,
)
from ticketflow.catalog.model import (
    CATEGORY_KEYS,
    Category,
    CategoryTree,
    GridAssignment,
    Responsibility,
)
from ticketflow.catalog.scoring import piece_type_of
from ticketflow.catalog.store import DEFAULT_TREE, Catalog, ImportReport, load_tree, save_tree

__all__ = [
    "CATEGORY_KEYS",
    "DEFAULT_TREE",
    "Catalog",
    "CatalogDispatch",
    "CatalogFileError",
    "Category",
    "CategoryTree",
    "ClassificationCheck",
    "ClassificationError",
    "GridAssignment",
    "ImportReport",
    "Problem",
    "Responsibility",
    "UnknownCategoryError",
    "dump_csv",
    "dump_json",
    "grid_rules",
    "load_tree",
    "parse_csv",
    "parse_json",
    "piece_type_of",
    "read_file",
    "save_tree",
    "write_file",
]
