process ANNOTATE_CLOUD {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/environment.yml"
    container "cellannotate/cellannotate:0.1.0"
    // The token arrives as the secret TENX_CLOUD_TOKEN or as a path in ext.args
    // (--tenx-cloud-token-path, both set in conf/models.config), never staged into the work
    // directory. The model is the one the validation report was planned for
    // (validate_matrix.py --cell-annotation-model).

    input:
    tuple val(meta), path(matrix), path(validation)

    output:
    tuple val(meta), path("10x_Cloud"), emit: annotation
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    annotate_cloud.py \\
        --matrix '${matrix}' \\
        --validation '${validation}' \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir 10x_Cloud
    touch 10x_Cloud/cell_types.csv 10x_Cloud/model.json 10x_Cloud/cell_annotation_results.json.gz
    """
}
