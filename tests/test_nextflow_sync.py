"""Each model option is declared once (in Python) and every surface follows from it: the local CLI,
the model's bin/ step, nextflow.config's params, nextflow_schema.json, the modules' ext.args and
inputs. The Nextflow files that follow from the registry are current, the hand-written module of
each model matches its declarations, and nothing is published unless conf/modules.config says so."""

import json
import re
import subprocess
import sys

import pytest

from cellannotate.annotators import registry
from conftest import BIN, REPO
from nextflow_config_json import nextflow_config_json
from nf_contract import Module, cli_options

sys.path.insert(0, str(REPO / "scripts"))
import sync_nextflow  # noqa: E402

SAMPLE_INPUTS = ["meta", "matrix", "validation"]


@pytest.fixture(scope="module")
def config():
    return nextflow_config_json(REPO)


@pytest.fixture(scope="module")
def schema_properties():
    schema = json.loads((REPO / "nextflow_schema.json").read_text())
    return {name: prop for group in schema["$defs"].values() for name, prop in group["properties"].items()}


def test_the_generated_nextflow_files_are_current():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "sync_nextflow.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cellannotate_annotate_offers_every_models_options():
    assert {o.flag for o in registry.options()} <= cli_options(BIN.parent / "src" / "cellannotate" / "__main__.py",
                                                               "annotate")


@pytest.mark.parametrize("model", registry.models(), ids=lambda m: m.name)
def test_each_step_script_offers_exactly_its_models_options(model):
    script = BIN / f"{model.step.lower()}.py"
    assert script.is_file(), f"{model.name}: no bin/ script {script.name}"
    assert cli_options(script) == {"--matrix", "--validation", "--outdir", "--help"} | {o.flag for o in model.options}


@pytest.mark.parametrize("option", registry.options(), ids=lambda o: o.name)
def test_every_option_is_one_parameter_with_one_name_and_its_declared_meaning(option, config, schema_properties):
    assert config["params"][option.name] == option.default
    prop = schema_properties[option.name]
    assert prop["description"] == option.help
    assert prop["type"] == ("string" if option.type.__name__ in ("str", "Path") else
                            {"int": "integer", "float": "number"}[option.type.__name__])
    assert prop.get("enum", []) == list(option.choices)
    assert prop.get("minimum") == option.minimum
    for model in (m for m in registry.models() if option in m.options):
        if option in sync_nextflow.staged(model):
            assert Module.load(model.step.lower()).inputs == SAMPLE_INPUTS + [o.name for o in sync_nextflow.staged(model)]
        else:
            args = config["process"][f"withName:{model.step}"]["ext"]["args"]
            assert f"params.{option.name} != null ? \"{option.flag} '\"" in args, (model.name, option.name)


@pytest.mark.parametrize("model", registry.models(), ids=lambda m: m.name)
def test_each_models_module_matches_its_declarations(model):
    name = model.step.lower()
    module = Module.load(name)
    assert module.process == model.step
    assert module.inputs == SAMPLE_INPUTS + [o.name for o in sync_nextflow.staged(model)]
    assert [o.pattern for o in module.outputs] == [model.folder]
    text = (REPO / "modules" / "local" / name / "main.nf").read_text()
    assert f"{name}.py" in text
    for option in sync_nextflow.staged(model):
        passed = option.flag + " '$" + "{" + option.name + "}'"   # no doubled braces: nf-core's lint reads them as Jinja
        assert passed in text, f"{name}: {option.name} not passed, quoted"
    import yaml  # in the main environment only (the reference and interop ones collect this file too)

    meta = yaml.safe_load((REPO / "modules" / "local" / name / "meta.yml").read_text())
    declared = [next(iter(entry)) for group in meta["input"] for entry in (group if isinstance(group, list) else [group])]
    assert declared == module.inputs
    assert list(meta["output"]) == ["annotation", "versions_cellannotate"]


def test_the_model_choices_are_the_registrys(schema_properties):
    assert schema_properties["cell_annotation_model"]["enum"] == list(registry.choices())


def test_only_the_token_steps_get_the_token_secret(config):
    with_secret = [name.split(":", 1)[1] for name, block in config["process"].items()
                   if isinstance(block, dict) and "secret" in block]
    needs = {"CHECK_TOKEN"} | {m.step for m in registry.models() if "tenx_cloud_token" in m.needs}
    assert [set(n.split("|")) for n in with_secret] == [needs]


ALLOWED_PUBLISH = (r'^\{ "\$\{params\.outdir\}/\$\{meta\.id\}" \}$', r'^\{ "\$\{params\.outdir\}/multiqc" \}$',
                   r'^\{ "\$\{params\.outdir\}/pipeline_info" \}$')


def test_publishing_is_opt_in_and_only_into_outs_multiqc_or_pipeline_info(config):
    assert "publishDir" not in config["process"], "a default publishDir publishes every process"
    published = {name: block["publishDir"] for name, block in config["process"].items()
                 if isinstance(block, dict) and "publishDir" in block}
    assert set(published) == {"withName:ASSEMBLE_OUTPUTS", "withName:MULTIQC"}
    for name, publish in published.items():
        assert any(re.match(p, publish["path"]) for p in ALLOWED_PUBLISH), (name, publish["path"])
        if "meta.id" in publish["path"]:
            assert publish.get("pattern") == "outs", f"{name} would publish beside outs/"
    for main in (REPO / "modules").rglob("main.nf"):
        assert "publishDir" not in main.read_text(), f"{main}: a module must not publish by itself"
