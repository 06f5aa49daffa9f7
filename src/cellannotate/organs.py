"""Which organ a cell type label names, if any: for labels of every organ's vocabulary.

Pan-human Azimuth's labels (which panhuman_distill shares) carry no organ, and actinn-jax 0.3.1's
reference leaves its ``class_to_tissue`` empty; yet "Glial cell of intestine" or a retinal
"Ganglion cell" in a brain is an answer from the wrong organ. These rules name the organ whose
own cell type a label is (first match, case-insensitive); types of every organ (immune and
tissue-resident immune cells, vessels, stroma, generic epithelium) name none. ``gut/lung`` is
either. The accuracy benchmark counts labels from another organ with the same rules.
"""

from __future__ import annotations

import re

import numpy as np

from cellannotate.distinct import distinct

IMMUNE_LIKE = re.compile(r"macrophag|microglia|kupffer|monocyt|dendritic|langerhans|mast cell|neutrophil|\bilc|"
                         r"lymphoid|hspc|hematopoietic|granulocyte|basophil|eosinophil", re.I)
ORGAN_RULES = (
    ("gut", r"of intestine|enterocyte|colonocyte|paneth|microfold|enteroendocrine|enterochromaffin"
            r"|surface mucous|chief cell"),
    ("gut/lung", r"goblet|tuft"),
    ("eye", r"\beye\b|retina|\brod\b|\bcone\b|bipolar|amacrine|horizontal cell|ganglion cell|m[uü]ller"
            r"|cornea|conjunctiva|ciliary body"),
    ("brain", r"neuron|astrocyte|oligodendro|\bopc\b|glial cell|rhombic lip|ependymal|choroid"),
    ("lung", r"\bat[12]\b|alveolar|airway|club cell|ionocyte|pulmonary"),
    ("liver", r"hepatocyte|cholangiocyte"),
    ("pancreas", r"acinar|alpha cell|beta cell|delta cell|\bpp cell|pancreatic|islet"),
    ("kidney", r"renal|podocyte|intercalated|of kidney"),
    ("bladder", r"bladder|urothel"),
    ("skin", r"keratinocyte|melanocyte|corneocyte|merkel"),
    ("breast", r"mammary|lactocyte"),
    ("placenta", r"trophoblast"),
    ("testis", r"spermat|sertoli|leydig|of testis|peritubular myoid"),
    ("ovary", r"granulosa|oocyte"),
    ("testis/ovary", r"germ cell"),
    ("thymus", r"thymic|\bmtec\b"),
    ("heart", r"cardiomyocyte|endocardial"),
    ("muscle", r"skeletal muscle"),
    ("adipose", r"adipocyte"),
    ("adrenal", r"chromaffin|sympathoblast|steroidogenic"),
)


def label_organ(label: str) -> str:
    """The organ whose own cell type ``label`` is (``gut/lung``: either); ``""`` for a type of every organ."""
    text = str(label).lower()
    if IMMUNE_LIKE.search(text):
        return ""
    return next((organ for organ, pattern in ORGAN_RULES if re.search(pattern, text)), "")


def label_organs(labels: np.ndarray) -> np.ndarray:
    """:func:`label_organ` of every label, each distinct label matched once."""
    values, inverse = distinct(labels)
    return np.array([label_organ(v) for v in values], dtype=object)[inverse]


def outside(organs: np.ndarray, allowed: set[str]) -> np.ndarray:
    """Per cell, whether its label names an organ and none of the ``allowed`` ones (``gut/lung`` is
    allowed in a lung)."""
    values, inverse = distinct(organs)
    return np.array([bool(o) and not set(o.split("/")) & allowed for o in values], dtype=bool)[inverse]
