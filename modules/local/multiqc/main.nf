process MULTIQC {
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // Fully qualified, so that params.container_registry (our images' registry) does not apply.
    container "community.wave.seqera.io/library/multiqc:1.31--1efbafd542a23882"

    input:
    path multiqc_files, stageAs: "?/*"
    path multiqc_config

    output:
    path "*multiqc_report.html", emit: report
    path "*_data", emit: data
    tuple val("${task.process}"), val('multiqc'), eval("multiqc --version | sed 's/multiqc, version //'"), topic: versions, emit: versions_multiqc

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def config = multiqc_config ? "--config '${multiqc_config}'" : ''
    """
    multiqc \\
        --force \\
        ${config} \\
        ${args} \\
        .
    """

    stub:
    """
    mkdir multiqc_data
    touch multiqc_report.html
    """
}
