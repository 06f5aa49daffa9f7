process ANNOTATE_DISTILL {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/environment.yml"
    container "cellannotate/cellannotate:0.1.0"

    input:
    tuple val(meta), path(matrix), path(validation)
    path distill_reference

    output:
    tuple val(meta), path("PanHumanDistill"), emit: annotation
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def reference_arg = distill_reference ? "--distill-reference '${distill_reference}'" : ''
    """
    # Threads for reading, inflating and BLAS: the cores Nextflow gave the task (README, Performance).
    export CELLANNOTATE_THREADS=${task.cpus} OMP_NUM_THREADS=${task.cpus} OPENBLAS_NUM_THREADS=${task.cpus}
    annotate_distill.py \\
        --matrix '${matrix}' \\
        --validation '${validation}' \\
        --outdir . \\
        ${reference_arg} \\
        ${args}
    """

    stub:
    """
    mkdir PanHumanDistill
    touch PanHumanDistill/cell_types.csv PanHumanDistill/model.json
    """
}
