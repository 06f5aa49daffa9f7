process ANNOTATE_MARKERS {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/environment.yml"
    container "cellannotate/cellannotate:0.1.0"

    input:
    tuple val(meta), path(matrix), path(validation)
    path markers_db

    output:
    tuple val(meta), path("Markers"), emit: annotation
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def db_arg = markers_db ? "--markers-db '${markers_db}'" : ''
    """
    # Threads for reading, inflating and BLAS: the cores Nextflow gave the task (README, Performance).
    export CELLANNOTATE_THREADS=${task.cpus} OMP_NUM_THREADS=${task.cpus} OPENBLAS_NUM_THREADS=${task.cpus}
    annotate_markers.py \\
        --matrix '${matrix}' \\
        --validation '${validation}' \\
        --outdir . \\
        ${db_arg} \\
        ${args}
    """

    stub:
    """
    mkdir Markers
    touch Markers/cell_types.csv Markers/model.json
    """
}
