process ANNOTATE_CLOUPE {
    tag "${meta.id}"
    label 'process_medium'

    conda "${moduleDir}/environment.yml"
    container "cellannotate/cellannotate:0.1.0"

    input:
    tuple val(meta), path(matrix), path(cloupe), path(annotations, stageAs: 'annotations/*')
    path loupe_converter

    output:
    tuple val(meta), path("cell_annotation_sample_cloupe.cloupe"), emit: cloupe, optional: true
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def annotation_args = annotations.collect { folder -> "--annotations '${folder}'" }.join(' ')
    def converter_arg = loupe_converter ? "--loupe-converter '${loupe_converter}'" : ''
    """
    annotate_cloupe.py \\
        --matrix '${matrix}' \\
        --cloupe '${cloupe}' \\
        ${annotation_args} \\
        --out cell_annotation_sample_cloupe.cloupe \\
        ${converter_arg} \\
        ${args}
    """

    stub:
    """
    touch cell_annotation_sample_cloupe.cloupe
    """
}
