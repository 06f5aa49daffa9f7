process VALIDATE_MATRIX {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/environment.yml"
    container "cellannotate/cellannotate:0.1.0"

    input:
    tuple val(meta), path(matrix)

    output:
    tuple val(meta), path("${prefix}.validation.json"), emit: validation
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    # Threads for reading, inflating and BLAS: the cores Nextflow gave the task (README, Performance).
    export CELLANNOTATE_THREADS=${task.cpus} OMP_NUM_THREADS=${task.cpus} OPENBLAS_NUM_THREADS=${task.cpus}
    validate_matrix.py \\
        --matrix '${matrix}' \\
        --out '${prefix}.validation.json' \\
        ${args}
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    echo '{"n_cells": 0, "species": "human", "matrix_kind": "segmented", "warnings": [], "models": ["azimuth"], "steps": ["ANNOTATE_AZIMUTH"]}' > ${prefix}.validation.json
    """
}
