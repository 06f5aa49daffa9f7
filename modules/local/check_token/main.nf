process CHECK_TOKEN {
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "cellannotate/cellannotate:0.1.0"
    // The token reaches the task as the secret TENX_CLOUD_TOKEN (set in conf/modules.config
    // with the `secret` directive), or through a path given as a value, so that Nextflow
    // never stages a copy of it into the work directory.

    input:
    val token_path

    output:
    path "token_check.txt", emit: checked
    tuple val("${task.process}"), val('cellannotate'), eval("python -c 'import cellannotate; print(cellannotate.__version__)'"), topic: versions, emit: versions_cellannotate

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def path_arg = token_path ? "--tenx-cloud-token-path '${token_path}'" : ''
    """
    check_token.py \\
        ${path_arg} \\
        ${args}
    echo "10x Cloud token checked" > token_check.txt
    """

    stub:
    """
    echo "10x Cloud token checked (stub)" > token_check.txt
    """
}
