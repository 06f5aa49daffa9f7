#!/usr/bin/env nextflow
/*
    cellannotate: automated cell type annotation of 10x feature-barcode matrices,
    an open re-implementation of `spaceranger annotate`.

    nextflow run main.nf -profile docker --input samplesheet.csv --outdir results
*/

include { validateParameters; samplesheetToList } from 'plugin/nf-schema'
include { ANNOTATE                              } from './workflows/annotate'

workflow {
    main:
    validateParameters()

    ch_samplesheet = channel
        .fromList(samplesheetToList(params.input, "${projectDir}/assets/schema_input.json"))
        .map { meta, matrix, cloupe, spaceranger_outs -> [meta, matrix, cloupe ?: [], spaceranger_outs ?: []] }

    ANNOTATE(ch_samplesheet)

    workflow.onComplete = {
        log.info(workflow.success ? "Outputs in ${params.outdir}/<sample>/outs" : "The run failed: see the error above")
    }
}
