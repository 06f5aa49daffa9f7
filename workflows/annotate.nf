/*
    The cell annotation workflow: the same steps, in the same order, as
    `cellannotate annotate`: matrix validation (which also plans the models), token check,
    annotation, cloupe annotation, output assembly.

    Which models run for a sample is decided by the tool, not here: validation.json lists
    the steps the sample needs, and each step below takes the samples that list it.
*/

include { CHECK_TOKEN      } from '../modules/local/check_token/main'
include { VALIDATE_MATRIX  } from '../modules/local/validate_matrix/main'
include { ANNOTATE_MODELS  } from '../subworkflows/local/annotate_models/main'
include { ANNOTATE_CLOUPE  } from '../modules/local/annotate_cloupe/main'
include { ASSEMBLE_OUTPUTS } from '../modules/local/assemble_outputs/main'
include { MULTIQC          } from '../modules/local/multiqc/main'
include { paramsSummaryMap } from 'plugin/nf-schema'

workflow ANNOTATE {

    take:
    ch_samplesheet // channel: [ val(meta), path(matrix), path(cloupe) or [], path(spaceranger_outs) or [] ]

    main:
    ch_matrix = ch_samplesheet.map { meta, matrix, _cloupe, _spaceranger -> [meta, matrix] }
    VALIDATE_MATRIX(ch_matrix)

    ch_validated = ch_matrix
        .join(VALIDATE_MATRIX.out.validation)
        .map { meta, matrix, validation ->
            [meta + [steps: new groovy.json.JsonSlurper().parse(validation).steps], matrix, validation]
        }

    // The token is checked once, before any upload, when a sample's plan needs it.
    def token_path = params.tenx_cloud_token_path ?: ''
    CHECK_TOKEN(
        ch_validated.filter { meta, _matrix, _validation -> 'CHECK_TOKEN' in meta.steps }.first().map { _meta, _matrix, _validation -> token_path }
    )
    // Every model's step, fed the samples whose plan lists it (generated from the registry).
    ANNOTATE_MODELS(ch_validated, CHECK_TOKEN.out.checked)
    ch_annotations = ANNOTATE_MODELS.out.annotations.groupTuple()

    ch_cloupe_input = ch_samplesheet
        .map { meta, _matrix, cloupe, _spaceranger -> [meta.id, cloupe] }
        .filter { _id, cloupe -> cloupe }
    ch_for_cloupe = ch_validated
        .map { meta, matrix, _validation -> [meta.id, meta, matrix] }
        .join(ch_cloupe_input)
        .map { _id, meta, matrix, cloupe -> [meta, matrix, cloupe] }
        .join(ch_annotations)
    ch_converter = params.loupe_converter ? file(params.loupe_converter, checkIfExists: true) : []
    ANNOTATE_CLOUPE(ch_for_cloupe, ch_converter)

    ch_spaceranger = ch_samplesheet.map { meta, _matrix, _cloupe, spaceranger -> [meta.id, spaceranger] }
    ch_assemble = ch_validated
        .join(ch_annotations)
        .join(ANNOTATE_CLOUPE.out.cloupe, remainder: true)
        .map { meta, matrix, validation, annotations, cloupe -> [meta.id, meta, matrix, validation, annotations, cloupe ?: []] }
        .join(ch_spaceranger)
        .map { _id, meta, matrix, validation, annotations, cloupe, spaceranger -> [meta, matrix, validation, annotations, cloupe, spaceranger] }
    ASSEMBLE_OUTPUTS(ch_assemble)

    // One MultiQC report across samples: every sample's custom content, and the software
    // versions every process emitted on the `versions` topic.
    ch_software_versions = channel.topic('versions')
        .map { process, tool, version -> "${process.tokenize(':').last()}:\n    ${tool}: ${version}" }
        .unique()
        .collectFile(name: 'cellannotate_software_mqc_versions.yml', storeDir: "${params.outdir}/pipeline_info",
                     newLine: true, sort: true)
    ch_workflow_summary = channel
        .value(workflowSummaryMultiqc(paramsSummaryMap(workflow, parameters_schema: "${projectDir}/nextflow_schema.json")))
        .collectFile(name: 'workflow_summary_mqc.yaml')
    ch_multiqc_config = file("${projectDir}/assets/multiqc_config.yml", checkIfExists: true)
    MULTIQC(
        ASSEMBLE_OUTPUTS.out.multiqc.flatten().mix(ch_software_versions, ch_workflow_summary).collect(),
        ch_multiqc_config
    )

    emit:
    outs = ASSEMBLE_OUTPUTS.out.outs   // channel: [ val(meta), path(outs) ]
    html = ASSEMBLE_OUTPUTS.out.html   // channel: [ val(meta), path(web_summary_cell_types.html) ]
    h5ad = ASSEMBLE_OUTPUTS.out.h5ad   // channel: [ val(meta), path(<id>.h5ad) ]
    multiqc_report = MULTIQC.out.report // channel: path(multiqc_report.html)
}

/*
    The parameters this run was started with, as MultiQC custom content (the section nf-core
    pipelines put at the top of their report). Values are HTML-escaped: paths may hold '<' or '&'.
*/
def workflowSummaryMultiqc(Map summary) {
    def rows = summary.values().collectMany { group ->
        group.collect { key, value ->
            def text = value.toString().replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            "        <dt>${key}</dt><dd><samp>${text}</samp></dd>"
        }
    }
    def header = [
        "id: 'cellannotate-cellannotate-summary'",
        "description: ' - the parameters this run was started with.'",
        "section_name: 'cellannotate Workflow Summary'",
        "section_href: 'https://github.com/cellannotate/cellannotate'",
        "plot_type: 'html'",
        "data: |",
        "    <dl class=\"dl-horizontal\">"
    ]
    return (header + rows + ["    </dl>"]).join('\n')
}
