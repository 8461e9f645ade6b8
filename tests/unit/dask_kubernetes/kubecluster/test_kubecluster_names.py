import pytest

from dask_kubernetes.operator.kubecluster.errors import InvalidNameError
from dask_kubernetes.operator.kubecluster.names import (
    MAX_CLUSTER_NAME_LENGTH,
    default_cluster_name,
    validate_cluster_name,
    validate_worker_group_name,
)


@pytest.mark.parametrize("name", ["a", "foo", "my-dask-cluster", "x1", "a" * 53])
def test_valid_cluster_names_pass(name):
    assert validate_cluster_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "non-empty"),
        ("Foo", "lower case"),
        ("1abc", "start with a letter"),
        ("abc-", "end with a letter or digit"),
        ("my_cluster", "lower case letters, digits and '-'"),
        ("my.cluster", "lower case letters, digits and '-'"),
        ("a" * 54, "54 characters long; the limit is 53"),
        (None, "non-empty string"),
    ],
)
def test_invalid_cluster_names_say_why(name, why):
    with pytest.raises(InvalidNameError, match="Invalid Dask cluster name") as info:
        validate_cluster_name(name)
    assert why in str(info.value)
    assert isinstance(info.value, ValueError)


def test_worker_group_name_includes_the_cluster_prefix_in_its_limit():
    assert validate_worker_group_name("foo", "highmem") == "highmem"
    validate_worker_group_name("a" * 53, "b" * 9)  # 63 characters in all
    with pytest.raises(InvalidNameError, match="foo-High_Mem"):
        validate_worker_group_name("foo", "High_Mem")
    with pytest.raises(InvalidNameError, match="64 characters"):
        validate_worker_group_name("a" * 53, "b" * 10)


def test_default_name_fills_user_and_uuid():
    assert default_cluster_name("dask-{user}-{uuid}", user="alice", uid="0123abcd") == (
        "dask-alice-0123abcd"
    )


@pytest.mark.parametrize("user", ["Alice.Smith", "DOMAIN\\bob", "_svc_", "x" * 80, "123", "über"])
def test_default_name_is_always_a_valid_cluster_name(user):
    name = default_cluster_name("dask-{user}-{uuid}", user=user, uid="abcdef0123")
    validate_cluster_name(name)
    assert name.endswith("-abcdef0123")
    assert len(name) <= MAX_CLUSTER_NAME_LENGTH


def test_default_name_without_user_is_unique_and_valid():
    first = default_cluster_name("dask-{user}-{uuid}")
    second = default_cluster_name("dask-{user}-{uuid}")
    assert first != second
    validate_cluster_name(first)


def test_template_starting_with_a_digit_gets_a_letter_first():
    name = default_cluster_name("{uuid}", uid="0abc")
    validate_cluster_name(name)
    assert name == "dask-0abc"
