"""Hardened XML loading for BPMN files.

Entities are never expanded, DTDs never loaded, the network never touched, and huge
documents refused. Every failure becomes a :class:`~ticketflow.errors.DefinitionError`
naming the file and line.
"""

from __future__ import annotations

from lxml import etree

from ticketflow.errors import DefinitionError

#: Largest BPMN document accepted, in bytes.
MAX_BPMN_BYTES = 5 * 1024 * 1024

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "camunda": CAMUNDA_NS, "xsi": XSI_NS}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_bpmn_bytes(content: bytes, filename: str) -> etree._Element:
    """Parse ``content`` safely and return the root element (``bpmn:definitions``)."""
    if len(content) > MAX_BPMN_BYTES:
        raise DefinitionError(
            f"file is {len(content)} bytes; the limit is {MAX_BPMN_BYTES}", file=filename
        )
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        line = content[: content.find(b"<!")].count(b"\n") + 1
        raise DefinitionError(
            "DOCTYPE and ENTITY declarations are not allowed in BPMN files",
            file=filename,
            line=line,
        )
    try:
        root = etree.fromstring(content, parser=_parser(), base_url=None)
    except etree.XMLSyntaxError as exc:
        raise DefinitionError(
            f"not well-formed XML: {exc.msg}", file=filename, line=exc.lineno or None
        ) from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        # Also in encodings the byte check above cannot read (UTF-16...).
        raise DefinitionError(
            "DOCTYPE and ENTITY declarations are not allowed in BPMN files", file=filename, line=1
        )
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise DefinitionError(
            f"root element is <{etree.QName(root).localname}>, expected <bpmn:definitions> "
            f"in namespace {BPMN_NS}",
            file=filename,
            line=root.sourceline,
        )
    return root
