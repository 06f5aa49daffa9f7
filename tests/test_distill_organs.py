"""panhuman_distill keeps its labels to the sample's organ: a fine label of another organ falls back
to its group (or Unassigned), and where no organ can be called the labels stay and are listed."""

import numpy as np

from cellannotate.annotators.distill.run import keep_to_organ
from cellannotate.annotators.markers.tissue import TissueCall
from cellannotate.celltypes import UNASSIGNED
from cellannotate.organs import label_organ

GROUPS = np.array(["Glial cell", "Epithelial cell of intestine", "CD4 T cell", "Glial cell"], dtype=object)
FINE = np.array(["Glial cell of intestine", "Enterocyte", "Memory CD4 T cell", "Fibrous astrocyte"], dtype=object)


def test_the_organ_a_label_names():
    assert label_organ("Glial cell of intestine") == "gut" and label_organ("Ganglion cell") == "eye"
    assert label_organ("Fibrous astrocyte") == "brain" and label_organ("Microglia") == ""
    assert label_organ("Memory CD4 T cell") == "" and label_organ("Goblet cell") == "gut/lung"


def test_in_a_brain_labels_of_other_organs_fall_back_to_their_group_or_unassigned():
    coarse, fine, broad, check = keep_to_organ(GROUPS, FINE, GROUPS.copy(), TissueCall("brain", True))
    assert list(fine) == ["Glial cell", UNASSIGNED, "Memory CD4 T cell", "Fibrous astrocyte"]
    assert list(coarse) == ["Glial cell", UNASSIGNED, "CD4 T cell", "Glial cell"]
    assert (check["moved"], check["unassigned"]) == (2, 1)
    assert "other organs" in check["warning"]


def test_in_blood_every_organ_is_another():
    """A glial group is the brain's as well: nothing of another organ stays in a blood sample."""
    _, fine, _, check = keep_to_organ(GROUPS, FINE, GROUPS.copy(), TissueCall("immune", True))
    assert list(fine) == [UNASSIGNED, UNASSIGNED, "Memory CD4 T cell", UNASSIGNED]
    assert (check["moved"], check["unassigned"]) == (3, 3)


def test_where_no_organ_is_called_the_labels_stay_and_are_listed():
    coarse, fine, _, check = keep_to_organ(GROUPS, FINE, GROUPS.copy(), TissueCall("undetermined", True))
    assert list(fine) == list(FINE) and check["moved"] == 0
    assert "gut 2" in check["report"] and "brain 1" in check["report"]
