"""store.xref: idempotent links, conflicts, lookups both ways, search by any id."""

import pytest

from accord.store import xref


def _link(conn, canonical="cust-1", external="001A", connection="salesforce", system=None):
    return xref.link(
        conn,
        entity_type="Customer",
        canonical_id=canonical,
        system=system or connection,
        connection=connection,
        external_id=external,
    )


def test_link_is_idempotent(engine):
    with engine.begin() as conn:
        assert _link(conn) is True
    with engine.begin() as conn:
        assert _link(conn) is False
        rows = xref.find_by_any_id(conn, "cust-1")
    assert len(rows) == 1


def test_same_external_id_to_another_canonical_id_is_refused(engine):
    with engine.begin() as conn:
        _link(conn)
    with engine.begin() as conn, pytest.raises(xref.XrefConflictError) as info:
        _link(conn, canonical="cust-2")
    err = info.value
    assert err.existing_canonical_id == "cust-1"
    assert "001A" in str(err)
    assert "cust-2" in str(err)


def test_canonical_id_to_a_second_external_id_in_one_connection_is_refused(engine):
    with engine.begin() as conn:
        _link(conn)
    with engine.begin() as conn, pytest.raises(xref.XrefConflictError):
        _link(conn, external="001B")


def test_same_external_id_in_another_connection_or_type_is_fine(engine):
    with engine.begin() as conn:
        _link(conn)
        assert _link(conn, canonical="cust-2", connection="netsuite") is True
        assert xref.link(
            conn,
            entity_type="Project",
            canonical_id="prj-1",
            system="salesforce",
            connection="salesforce",
            external_id="001A",
        )


def test_get_external_and_get_canonical(engine):
    with engine.begin() as conn:
        _link(conn)
        _link(conn, external="C-77", connection="netsuite")
    with engine.connect() as conn:
        assert (
            xref.get_external(
                conn, entity_type="Customer", canonical_id="cust-1", connection="netsuite"
            )
            == "C-77"
        )
        assert (
            xref.get_canonical(
                conn, entity_type="Customer", connection="salesforce", external_id="001A"
            )
            == "cust-1"
        )
        assert (
            xref.get_external(conn, entity_type="Customer", canonical_id="x", connection="netsuite")
            is None
        )
        assert (
            xref.get_canonical(
                conn, entity_type="Project", connection="salesforce", external_id="001A"
            )
            is None
        )


def test_find_by_any_id_returns_every_system_of_the_object(engine):
    with engine.begin() as conn:
        _link(conn)
        _link(conn, external="C-77", connection="netsuite")
        _link(conn, external="W-5", connection="kantata")
        _link(conn, canonical="cust-9", external="001Z")
    with engine.connect() as conn:
        for any_id in ("cust-1", "001A", "C-77", "W-5"):
            rows = xref.find_by_any_id(conn, any_id)
            assert {(r.connection, r.external_id) for r in rows} == {
                ("salesforce", "001A"),
                ("netsuite", "C-77"),
                ("kantata", "W-5"),
            }
            assert all(r.created_at.tzinfo is not None for r in rows)
        assert xref.find_by_any_id(conn, "nothing") == []
        assert (
            len(xref.list_for(conn, entity_type="Customer", canonical_ids=["cust-1", "cust-9"]))
            == 4
        )
        assert xref.list_for(conn, entity_type="Customer", canonical_ids=[]) == []
