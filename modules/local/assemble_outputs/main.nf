process ASSEMBLE_OUTPUTS {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/environment.yml"
    container "cellannotate/cellannotate:0.1.0"

    input:
    tuple val(meta), path(matrix), path(validation), path(annotations, stageAs: 'annotations/*'), path(cloupe), path(spaceranger_outs)

    output:
    tuple val(meta), path("outs"), emit: outs
    tuple val(meta), path("outs/web_summary_cell_types.html"), emit: html
    tuple val(meta), path("outs/${prefix}.h5ad"), emit: h5ad
    path "*_mqc.tsv", emit: multiqc
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    def annotation_args = annotations.collect { folder -> "--annotations '${folder}'" }.join(' ')
    def cloupe_arg = cloupe ? "--cloupe '${cloupe}'" : ''
    def spaceranger_arg = spaceranger_outs ? "--spaceranger-outs '${spaceranger_outs}'" : ''
    """
    # Threads for reading, inflating and BLAS: the cores Nextflow gave the task (README, Performance).
    export CELLANNOTATE_THREADS=${task.cpus} OMP_NUM_THREADS=${task.cpus} OPENBLAS_NUM_THREADS=${task.cpus}
    assemble_outputs.py \\
        --id '${prefix}' \\
        --matrix '${matrix}' \\
        --validation '${validation}' \\
        ${annotation_args} \\
        --outs outs \\
        --multiqc . \\
        ${cloupe_arg} \\
        ${spaceranger_arg} \\
        ${args}
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    mkdir -p outs/cell_types
    touch outs/web_summary_cell_types.html outs/${prefix}.h5ad outs/summary.json ${prefix}_validation_mqc.tsv
    """
}
