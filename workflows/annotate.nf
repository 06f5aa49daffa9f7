/*
    The cell annotation workflow: the same steps, in the same order, as
    `cellannotate annotate`: token check, matrix validation, annotation, cloupe
    annotation, output assembly.
*/

include { VALIDATE_MATRIX  } from '../modules/local/validate_matrix/main'
include { ANNOTATE_MARKERS } from '../modules/local/annotate_markers/main'
include { ANNOTATE_CLOUPE  } from '../modules/local/annotate_cloupe/main'
include { ASSEMBLE_OUTPUTS } from '../modules/local/assemble_outputs/main'

workflow ANNOTATE {

    take:
    ch_samplesheet // channel: [ val(meta), path(matrix), path(cloupe) or [] ]

    main:
    def cloud_models = ['auto', 'human_pca_v1_beta', 'mouse_pca_v1_beta']
    def model = params.cell_annotation_model

    if (model in cloud_models) {
        error "The 10x Cloud annotation step is not available yet in this version of the pipeline; use --cell_annotation_model markers"
    }

    ch_matrix = ch_samplesheet.map { meta, matrix, _cloupe -> [meta, matrix] }
    VALIDATE_MATRIX(ch_matrix)

    // The species that validation found decides which models run, as in Space Ranger.
    ch_validated = ch_matrix
        .join(VALIDATE_MATRIX.out.validation)
        .map { meta, matrix, validation ->
            def report = new groovy.json.JsonSlurper().parse(validation)
            [meta + [species: report.species], matrix, validation]
        }
        .branch { meta, _matrix, _validation ->
            markers: model == 'markers' || (model == null && meta.species == 'mouse')
            azimuth: meta.species == 'human'
            none: true
        }

    ch_validated.azimuth.subscribe { meta, _matrix, _validation ->
        error "Sample ${meta.id}: Pan-Human Azimuth (the default for human samples) is not available yet in this version; use --cell_annotation_model markers"
    }
    ch_validated.none.subscribe { meta, _matrix, _validation ->
        error "Sample ${meta.id}: no model applies to a ${meta.species} sample (the models are for human or mouse)"
    }

    ch_markers_db = params.markers_db ? file(params.markers_db, checkIfExists: true) : []
    ANNOTATE_MARKERS(ch_validated.markers, ch_markers_db)

    // One annotation folder per model; a list, so that more models can join it.
    ch_annotations = ANNOTATE_MARKERS.out.annotation
        .map { meta, folder -> [meta, [folder]] }

    ch_cloupe_input = ch_samplesheet
        .map { meta, _matrix, cloupe -> [meta.id, cloupe] }
        .filter { _id, cloupe -> cloupe }
    ch_for_cloupe = ch_validated.markers
        .map { meta, matrix, _validation -> [meta.id, meta, matrix] }
        .join(ch_cloupe_input)
        .map { _id, meta, matrix, cloupe -> [meta, matrix, cloupe] }
        .join(ch_annotations)
    ch_converter = params.loupe_converter ? file(params.loupe_converter, checkIfExists: true) : []
    ANNOTATE_CLOUPE(ch_for_cloupe, ch_converter)

    ch_assemble = ch_validated.markers
        .join(ch_annotations)
        .join(ANNOTATE_CLOUPE.out.cloupe, remainder: true)
        .map { meta, matrix, validation, annotations, cloupe -> [meta, matrix, validation, annotations, cloupe ?: []] }
    ASSEMBLE_OUTPUTS(ch_assemble)

    emit:
    outs = ASSEMBLE_OUTPUTS.out.outs   // channel: [ val(meta), path(outs) ]
    html = ASSEMBLE_OUTPUTS.out.html   // channel: [ val(meta), path(web_summary_cell_types.html) ]
    h5ad = ASSEMBLE_OUTPUTS.out.h5ad   // channel: [ val(meta), path(<id>.h5ad) ]
}
