/*
    The cell annotation workflow: the same steps, in the same order, as
    `cellannotate annotate`: token check, matrix validation, annotation, cloupe
    annotation, output assembly.
*/

include { CHECK_TOKEN      } from '../modules/local/check_token/main'
include { VALIDATE_MATRIX  } from '../modules/local/validate_matrix/main'
include { ANNOTATE_CLOUD   } from '../modules/local/annotate_cloud/main'
include { ANNOTATE_AZIMUTH } from '../modules/local/annotate_azimuth/main'
include { ANNOTATE_MARKERS } from '../modules/local/annotate_markers/main'
include { ANNOTATE_CLOUPE  } from '../modules/local/annotate_cloupe/main'
include { ASSEMBLE_OUTPUTS } from '../modules/local/assemble_outputs/main'

workflow ANNOTATE {

    take:
    ch_samplesheet // channel: [ val(meta), path(matrix), path(cloupe) or [] ]

    main:
    def cloud_models = ['auto', 'human_pca_v1_beta', 'mouse_pca_v1_beta']
    def model = params.cell_annotation_model

    ch_matrix = ch_samplesheet.map { meta, matrix, _cloupe -> [meta, matrix] }
    VALIDATE_MATRIX(ch_matrix)

    // The species that validation found decides which models run, as in Space Ranger; a
    // sample may go to more than one model, so each model filters the samples it takes.
    ch_validated = ch_matrix
        .join(VALIDATE_MATRIX.out.validation)
        .map { meta, matrix, validation ->
            def report = new groovy.json.JsonSlurper().parse(validation)
            [meta + [species: report.species], matrix, validation]
        }
    def known_species = ['human', 'mouse']
    ch_for_markers = ch_validated.filter { meta, _m, _v -> meta.species in known_species && (model == 'markers' || (model == null && meta.species == 'mouse')) }
    ch_for_cloud = ch_validated.filter { meta, _m, _v -> meta.species in known_species && model in cloud_models }
    ch_for_azimuth = ch_validated.filter { meta, _m, _v -> meta.species == 'human' && model != 'markers' }

    ch_validated.filter { meta, _m, _v -> !(meta.species in known_species) }.subscribe { meta, _matrix, _validation ->
        error "Sample ${meta.id}: no model applies to a ${meta.species} sample (the models are for human or mouse)"
    }

    // The token is checked once, before any upload.
    def token_path = params.tenx_cloud_token_path ?: ''
    def ch_checked = channel.empty()
    if (model in cloud_models) {
        CHECK_TOKEN(token_path)
        ch_checked = CHECK_TOKEN.out.checked
    }
    ANNOTATE_CLOUD(
        ch_for_cloud.combine(ch_checked).map { meta, matrix, validation, _checked -> [meta, matrix, validation] },
        model ?: 'auto',
        token_path
    )

    ch_azimuth_model = params.azimuth_model ? file(params.azimuth_model, checkIfExists: true) : []
    ANNOTATE_AZIMUTH(ch_for_azimuth, ch_azimuth_model)

    ch_markers_db = params.markers_db ? file(params.markers_db, checkIfExists: true) : []
    ANNOTATE_MARKERS(ch_for_markers, ch_markers_db)

    // Every model's folder for a sample, together.
    ch_annotations = ANNOTATE_MARKERS.out.annotation
        .mix(ANNOTATE_CLOUD.out.annotation)
        .mix(ANNOTATE_AZIMUTH.out.annotation)
        .groupTuple()

    ch_cloupe_input = ch_samplesheet
        .map { meta, _matrix, cloupe -> [meta.id, cloupe] }
        .filter { _id, cloupe -> cloupe }
    ch_for_cloupe = ch_validated
        .map { meta, matrix, _validation -> [meta.id, meta, matrix] }
        .join(ch_cloupe_input)
        .map { _id, meta, matrix, cloupe -> [meta, matrix, cloupe] }
        .join(ch_annotations)
    ch_converter = params.loupe_converter ? file(params.loupe_converter, checkIfExists: true) : []
    ANNOTATE_CLOUPE(ch_for_cloupe, ch_converter)

    ch_assemble = ch_validated
        .join(ch_annotations)
        .join(ANNOTATE_CLOUPE.out.cloupe, remainder: true)
        .map { meta, matrix, validation, annotations, cloupe -> [meta, matrix, validation, annotations, cloupe ?: []] }
    ASSEMBLE_OUTPUTS(ch_assemble)

    emit:
    outs = ASSEMBLE_OUTPUTS.out.outs   // channel: [ val(meta), path(outs) ]
    html = ASSEMBLE_OUTPUTS.out.html   // channel: [ val(meta), path(web_summary_cell_types.html) ]
    h5ad = ASSEMBLE_OUTPUTS.out.h5ad   // channel: [ val(meta), path(<id>.h5ad) ]
}
