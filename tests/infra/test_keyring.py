"""The keys of secret values (infra/keyring.py) and secret values in documents
(infra/sealing.py): the key file's rules, sealing bound to its place, documents as written."""

import os

import pytest

from api.app import create_app
from infra.documents import literal, written
from infra.keyring import (
    KeyFileError,
    Keyring,
    Unsealable,
    add_key,
    context,
    create_key_file,
    embedded_key_file,
    ensure_key_file,
    key_file,
    read_key_file,
)
from infra.sealing import (
    MASK,
    BadPointer,
    mask_document,
    merge_patch,
    outermost,
    pointer_parts,
    reveal_document,
    reveal_tree,
    seal_tree,
)
from tests.support import app_settings


@pytest.fixture
def keys(tmp_path):
    path = tmp_path / "secrets.key"
    create_key_file(path)
    return path


def test_a_new_key_file_is_its_owners_alone_and_never_made_over_another(keys):
    assert (keys.stat().st_mode & 0o777) == 0o600
    assert len(read_key_file(keys)) == 1
    with pytest.raises(KeyFileError, match="exists already"):
        create_key_file(keys)
    assert ensure_key_file(keys) is None  # kept as it is


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_others_may_read_or_write_is_refused(keys, mode):
    keys.chmod(mode)
    with pytest.raises(KeyFileError, match=r"chmod 600"):
        read_key_file(keys)


def test_a_key_file_that_is_missing_or_malformed_is_refused_with_what_to_do(tmp_path, keys):
    with pytest.raises(KeyFileError, match="secrets keygen --file"):
        read_key_file(tmp_path / "nowhere.key")
    keys.write_text(keys.read_text() + "not a key line\n")
    with pytest.raises(KeyFileError, match="line 5"):
        read_key_file(keys)


def test_a_key_file_that_cannot_be_used_stops_the_start(database_url, keys):
    keys.chmod(0o644)
    with pytest.raises(KeyFileError):
        create_app(app_settings(database_url, secrets_keys=keys))


def test_a_rotation_adds_the_sealing_key_and_the_old_ones_keep_opening(keys):
    ring = Keyring(keys)
    first = ring.sealing_id
    sealed = ring.seal('"old"', context("C", "/p"))

    added = add_key(keys)

    assert (keys.stat().st_mode & 0o777) == 0o600 and added != first
    assert ring.reload() == (first, added) and ring.sealing_id == added
    assert ring.open(sealed, context("C", "/p")) == '"old"'
    assert ring.seal('"new"', context("C", "/p")).startswith(f"$sealed:v1:{added}:")


def test_a_sealed_value_opens_only_where_it_was_sealed(keys):
    ring = Keyring(keys)
    sealed = ring.seal('"hunter2"', context("C1", "/db/password"))

    assert "hunter2" not in sealed
    assert ring.seal('"hunter2"', context("C1", "/db/password")) != sealed  # a nonce of its own
    for elsewhere in (context("C2", "/db/password"), context("C1", "/db/user")):
        with pytest.raises(Unsealable):
            ring.open(sealed, elsewhere)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(Unsealable):
        ring.open(tampered, context("C1", "/db/password"))
    with pytest.raises(Unsealable, match="not loaded"):
        Keyring.of([("other", os.urandom(32))]).open(sealed, context("C1", "/db/password"))


def test_the_embedded_key_file_is_beside_the_database_folder_not_inside(tmp_path):
    pgdata = tmp_path / ".pgdata"
    assert embedded_key_file(pgdata) == tmp_path / "secrets.key"
    assert key_file(None, None, pgdata) is None  # none made yet
    ensure_key_file(embedded_key_file(pgdata))
    assert key_file(None, None, pgdata) == tmp_path / "secrets.key"
    assert key_file(None, "postgresql://elsewhere/db", pgdata) is None  # DATABASE_URL: only SECRETS_KEYS


@pytest.mark.parametrize(
    ("pointer", "parts"),
    [("/a", ("a",)), ("/a~1b/c~0d", ("a/b", "c~d")), ("/list/0", ("list", "0")), ("/", ("",))],
)
def test_pointers_are_rfc_6901(pointer, parts):
    assert pointer_parts(pointer) == parts


@pytest.mark.parametrize("pointer", ["", "a/b", "/a~2", "/a~"])
def test_a_pointer_that_names_no_member_is_refused(pointer):
    with pytest.raises(BadPointer):
        pointer_parts(pointer)


def test_a_pointer_inside_another_is_covered_by_it():
    assert [p for p, _ in outermost(["/db/password", "/db", "/x", "/db/user"])] == ["/db", "/x"]


def test_documents_keep_what_is_not_secret_as_written_and_secrets_come_back_exactly():
    ring = Keyring.of([("k", os.urandom(32))])
    text = '{"z":1.50,"db":{"pw":"sécret","pool":[1e2,-0]},"list":[{"k":"a"},{"k":"b"}]}'
    pointers = ["/db", "/list/1/k"]

    sealed = written(seal_tree(literal(text), pointers, ring, "C"))

    assert "cret" not in sealed and sealed.startswith('{"z":1.50,"db":"$sealed:v1:k:')
    assert mask_document(sealed, pointers) == '{"z":1.50,"db":"********","list":[{"k":"a"},{"k":"********"}]}'
    assert reveal_document(sealed, pointers, ring, "C") == text
    # Moved to another configuration, it does not open there: shown masked, never as stored.
    assert reveal_document(sealed, pointers, ring, "OTHER") == mask_document(sealed, pointers)
    with pytest.raises(Unsealable):
        reveal_tree(literal(sealed), pointers, ring, "OTHER", strict=True)
    assert MASK == "********"


def test_a_merge_patch_keeps_the_order_of_keys():
    target = literal('{"a":1,"b":{"x":1,"y":2},"c":3}')
    patch = literal('{"b":{"x":null,"z":1.0},"a":null,"d":[1]}')
    assert written(merge_patch(target, patch)) == '{"b":{"y":2,"z":1.0},"c":3,"d":[1]}'
