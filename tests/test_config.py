"""Configuration: defaults, precedence, validation messages and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from oasis_cli.config import docs, loading, model, names
from oasis_cli.errors import ConfigError


def test_defaults_resolve_to_spec_names():
    deployment = names.resolve(loading.load(None, environ={}), "my-project")
    resolved = deployment.names
    assert resolved.mgmt_network == "oasis-mgmt-net"
    assert resolved.proxy_subnet == "oasis-proxy-only-sub"
    assert resolved.cluster == "oasis-h200"
    assert deployment.names.bucket == "my-project-oasis-data"
    assert deployment.rdma_subnets[7] == ("oasis-rdma-sub-7", "10.101.8.0/24")
    assert deployment.config.gpu.capacity == ["spot", "flex-start"]


def test_file_then_env_then_flags(tmp_path: Path):
    path = tmp_path / "oasis.toml"
    path.write_text(
        'deployment = "fromfile"\nregion = "us-east4"\nzone = "us-east4-a"\n[gpu]\nmax_nodes = 3\n'
    )
    loaded = loading.load(path, environ={})
    assert (loaded.deployment, loaded.gpu.max_nodes) == ("fromfile", 3)
    env = {"OASIS_DEPLOYMENT": "fromenv", "OASIS_GPU_MAX_NODES": "4"}
    loaded = loading.load(path, environ=env)
    assert (loaded.deployment, loaded.gpu.max_nodes, loaded.region) == ("fromenv", 4, "us-east4")
    loaded = loading.load(path, environ=env, overrides=["deployment=fromflag", "gpu.max_nodes=5"])
    assert (loaded.deployment, loaded.gpu.max_nodes) == ("fromflag", 5)


def test_list_settings_from_env_accept_commas_and_json():
    loaded = loading.load(None, environ={"OASIS_GPU_CAPACITY": "flex-start,spot"})
    assert loaded.gpu.capacity == ["flex-start", "spot"]
    loaded = loading.load(None, environ={"OASIS_GPU_CAPACITY": '["reservation:r1", "spot"]'})
    assert loaded.gpu.capacity == ["reservation:r1", "spot"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["zone=us-east4-a"], "zone: 'us-east4-a': must be a zone of region us-south1"),
        (["network.mgmt_cidr=10.99.0.0/33"], "network.mgmt_cidr: '10.99.0.0/33': not an IPv4"),
        (["network.mgmt_cidr=10.99.0.1/24"], "network.mgmt_cidr: '10.99.0.1/24': not an IPv4"),
        (
            ["network.proxy_cidr=10.99.0.0/26"],
            "network.proxy_cidr: '10.99.0.0/26': overlaps network.mgmt_cidr",
        ),
        (["gpu.capacity=spot,preemptible"], "gpu.capacity: ['spot', 'preemptible']: unknown entry"),
        (["gpu.capacity=spot,spot"], "each kind of capacity may appear once"),
        (["gpu.count=16"], "gpu.count: 16: a3-ultragpu-8g comes with exactly 8 GPUs"),
        (["gpu.count=7"], "gpu.count: 7: a3-ultragpu-8g comes with exactly 8 GPUs"),
        (
            ["cluster.authorized_networks=0.0.0.0/1,128.0.0.0/1"],
            "together they open the control plane to 4,294,967,296 addresses",
        ),
        (
            ["cluster.authorized_networks=1.0.0.0/9,1.128.0.0/9,2.0.0.0/16"],
            "16,842,752 addresses (more than a /8",
        ),
        (["gpu.accelerator=nvidia-b200"], "a3-ultragpu-8g has nvidia-h200-141gb"),
        (["gpu.capacity=reservation:r1/blocks/b"], "unknown entry"),
        (["gpu.machine_type=n1-standard-4"], "gpu.machine_type: 'n1-standard-4': unknown"),
        (["deployment=Bad_Name"], "deployment: 'Bad_Name': lowercase letters"),
        (["project=x"], "project: 'x': 6-30 lowercase"),
        (["gpu.max_nodes=abc"], "gpu.max_nodes: 'abc': Input should be a valid integer"),
        (["network.rdma_cidrs=10.1.0.0/24"], "needs exactly 8 ranges"),
        (
            ["images.upstream=rayproject/ray:2.47.0-py312-cu128"],
            "images.upstream: 'rayproject/ray:2.47.0-py312-cu128': its tag must be ray.version",
        ),
        (["images.upstream=Ray Project"], "images.upstream: 'Ray Project': must be a Docker"),
        (["images.build_timeout_s=60"], "images.build_timeout_s: '60': Input should be greater"),
    ],
)
def test_bad_values_name_field_value_and_rule(overrides, message):
    with pytest.raises(ConfigError) as raised:
        loading.load(None, environ={}, overrides=overrides)
    assert message in str(raised.value)
    assert raised.value.exit_code == 2


def test_unknown_setting_in_file_is_rejected(tmp_path: Path):
    path = tmp_path / "oasis.toml"
    path.write_text("[gpu]\nmax_node = 3\n")
    with pytest.raises(ConfigError, match=r"gpu.max_node: 3: unknown setting"):
        loading.load(path, environ={})


def test_unknown_set_key_is_rejected():
    with pytest.raises(ConfigError, match="--set gpu.nodes: unknown setting"):
        loading.load(None, environ={}, overrides=["gpu.nodes=3"])


def test_derived_name_too_long_is_rejected():
    loaded = loading.load(None, environ={}, overrides=["network.mgmt_network=" + "a" * 64])
    with pytest.raises(ConfigError, match="network.mgmt_network: 'a+': lowercase"):
        names.resolve(loaded, "my-project")


def test_bad_bucket_name_is_rejected():
    loaded = loading.load(None, environ={}, overrides=["storage.bucket=Bad..Bucket"])
    with pytest.raises(ConfigError, match="storage.bucket"):
        names.resolve(loaded, "my-project")


def test_the_build_bucket_must_not_be_the_data_bucket():
    loaded = loading.load(None, environ={}, overrides=["storage.build_bucket={project}-x-data"])
    loaded = loaded.model_copy(update={"deployment": "x"})
    with pytest.raises(ConfigError, match="storage.build_bucket: must differ"):
        names.resolve(loaded, "my-project")


def test_init_file_lists_every_setting_and_loads_back_to_defaults(oasis, workspace):
    result = oasis("init")
    assert result.code == 0
    text = (workspace / "oasis.toml").read_text()
    for path in model.field_paths():
        assert f"{path[-1]} =" in text, path
    assert "# GPU node machine type." in text
    assert loading.load(workspace / "oasis.toml", environ={}) == model.Config()


def test_init_refuses_to_overwrite(oasis, workspace):
    (workspace / "oasis.toml").write_text("# mine\n")
    result = oasis("init")
    assert result.code == 2
    assert (workspace / "oasis.toml").read_text() == "# mine\n"


def test_bad_config_exits_2_before_any_api_call(oasis, workspace, cloud_dir):
    (workspace / "oasis.toml").write_text('zone = "europe-west4-a"\n')
    result = oasis("--local", "up", "--yes")
    assert result.code == 2
    assert "zone: 'europe-west4-a': must be a zone of region us-south1" in result.stderr
    assert not cloud_dir.exists()


def test_env_and_flag_reach_the_cli(oasis, monkeypatch, world):
    monkeypatch.setenv("OASIS_DEPLOYMENT", "envdep")
    result = oasis("--local", "--set", "network.rdma_mtu=4096", "up", "--yes")
    assert result.code == 0, result.stderr
    found = {item["name"]: item["resource"] for item in world()}
    assert found["envdep-rdma-net"]["mtu"] == 4096


def test_readme_documents_every_setting():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert docs.reference_table() in readme, "run: python tools/sync_docs.py"
    for path in model.field_paths():
        assert f"`{'.'.join(path)}`" in readme, path
        assert f"`{model.env_name(path)}`" in readme, path


def test_authorized_networks_up_to_a_slash_8_need_no_flag():
    """The guard is not over-strict: overlapping ranges count once, and a union of
    exactly a /8 passes."""
    config = loading.load(
        None, environ={}, overrides=["cluster.authorized_networks=10.0.0.0/8,10.1.0.0/16"]
    )
    assert config.cluster.authorized_networks == ["10.0.0.0/8", "10.1.0.0/16"]


def test_a_named_config_that_does_not_exist_is_an_error_and_nothing_moves(
    oasis, workspace, cloud_dir
):
    result = oasis("--local", "--config", str(workspace / "missing" / "oasis.toml"), "up", "--yes")
    assert result.code == 2
    assert "no such file" in result.stderr and "oasis init" in result.stderr
    assert not (workspace / "missing").exists()  # no ledger beside the missing path
    assert not cloud_dir.exists()


def test_without_oasis_toml_the_defaults_are_used_and_said(oasis, workspace):
    result = oasis("--local", "plan")
    assert result.code == 0, result.stderr
    assert "no oasis.toml here: using the defaults" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is a directory, not a TOML file"),
        (b"\x7fELF\x02\x01\x01\x00\xd0\xff", "not a text file (expected TOML)"),
    ],
)
def test_a_directory_or_binary_config_is_a_clear_error(oasis, workspace, content, message):
    path = workspace / "conf"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = oasis("--local", "--config", str(path), "plan")
    assert result.code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_file_values_are_typed_strictly(tmp_path: Path):
    path = tmp_path / "oasis.toml"
    path.write_text('[gpu]\ncount = "8"\n[cluster]\nallow_any_ip = "no"\n')
    with pytest.raises(ConfigError) as caught:
        loading.load(path, environ={})
    assert "gpu.count: '8': Input should be a valid integer" in str(caught.value)
    assert "cluster.allow_any_ip: 'no': Input should be a valid boolean" in str(caught.value)


def test_text_from_the_environment_and_flags_is_still_parsed():
    config = loading.load(
        None, environ={"OASIS_GPU_COUNT": "8"}, overrides=["cluster.allow_any_ip=true"]
    )
    assert config.gpu.count == 8 and config.cluster.allow_any_ip is True


def test_an_unknown_setting_names_the_nearest_known_one(tmp_path: Path):
    path = tmp_path / "oasis.toml"
    path.write_text("[gpu]\ncuont = 8\n")
    with pytest.raises(
        ConfigError, match=r"gpu\.cuont: 8: unknown setting \(did you mean gpu\.count\?\)"
    ):
        loading.load(path, environ={})
    with pytest.raises(ConfigError, match=r"did you mean cluster\.version\?"):
        loading.load(None, environ={}, overrides=["cluster.verison=1.33"])
