process ANNOTATE_AZIMUTH {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/environment.yml"
    // The image carries the v1 weights, fetched and checked when it was built.
    container "cellannotate/cellannotate-azimuth:0.1.0"

    input:
    tuple val(meta), path(matrix), path(validation)
    path azimuth_model

    output:
    tuple val(meta), path("Azimuth"), emit: annotation
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def model_arg = azimuth_model ? "--azimuth-model '${azimuth_model}'" : ''
    """
    # Threads for reading, inflating and BLAS: the cores Nextflow gave the task (README, Performance).
    export CELLANNOTATE_THREADS=${task.cpus} OMP_NUM_THREADS=${task.cpus} OPENBLAS_NUM_THREADS=${task.cpus}
    annotate_azimuth.py \\
        --matrix '${matrix}' \\
        --validation '${validation}' \\
        --outdir . \\
        ${model_arg} \\
        ${args}
    """

    stub:
    """
    mkdir Azimuth
    touch Azimuth/cell_types.csv Azimuth/model.json Azimuth/embedding.npy
    """
}
