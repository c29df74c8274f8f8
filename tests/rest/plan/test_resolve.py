"""`rest.plan.resolve` and `rest.plan.relationships` on hand-built schemas: no database needed."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from backstack.core.errors import ApiError
from backstack.db.dialect import POSTGRES, SQLITE
from backstack.db.schema.model import Column, ForeignKey, Schema, Table
from backstack.rest.plan.relationships import find_relationship, relationships_from
from backstack.rest.plan.resolve import (
    Node,
    OutField,
    PEmbedNull,
    PFilter,
    PLogic,
    lookup_table,
    plan_read,
    resolve_cast,
)
from backstack.rest.request.parse import parse_read


def col(name: str, type_: str = "text", kind: str = "text") -> Column:
    return Column(name, type_, kind)


def table(
    name: str,
    cols: list[str],
    pk: tuple[str, ...] = ("id",),
    unique: tuple[tuple[str, ...], ...] = (),
    fks: tuple[ForeignKey, ...] = (),
) -> Table:
    columns = {c: col(c, "bigint", "int") if c == "id" or c.endswith("_id") else col(c) for c in cols}
    return Table("public", name, columns, pk, (pk, *unique) if pk else unique, fks)


def fk(tbl: str, cols: tuple[str, ...], ref: str) -> ForeignKey:
    return ForeignKey(f"{tbl}_{'_'.join(cols)}_fkey", tbl, cols, ref, ("id",))


SCHEMA = Schema(
    {
        "authors": table("authors", ["id", "name"]),
        "people": table("people", ["id", "name"]),
        "books": table(
            "books",
            ["id", "title", "author_id", "buyer_id", "seller_id"],
            fks=(
                fk("books", ("author_id",), "authors"),
                fk("books", ("buyer_id",), "people"),
                fk("books", ("seller_id",), "people"),
            ),
        ),
        "tags": table("tags", ["id", "name"]),
        "book_tags": table(
            "book_tags",
            ["book_id", "tag_id"],
            pk=("book_id", "tag_id"),
            fks=(fk("book_tags", ("book_id",), "books"), fk("book_tags", ("tag_id",), "tags")),
        ),
        "loose": table(
            "loose",
            ["id", "book_id", "tag_id"],
            fks=(  # FK columns not in its PK: no m2m
                fk("loose", ("book_id",), "books"),
                fk("loose", ("tag_id",), "tags"),
            ),
        ),
        "profiles": table(
            "profiles", ["author_id", "bio"], pk=("author_id",), fks=(fk("profiles", ("author_id",), "authors"),)
        ),
        "nodes": table("nodes", ["id", "parent_id"], fks=(fk("nodes", ("parent_id",), "nodes"),)),
    }
)


def plan(qs: str, name: str = "books") -> Node:
    query = parse_read(parse_qsl(qs, keep_blank_values=True), max_terms=100, max_depth=8)
    return plan_read(SCHEMA, name, query, dialect=SQLITE)


def test_cardinalities() -> None:
    rels = {(r.foreign_table, r.constraint): r.cardinality for r in relationships_from(SCHEMA, "books")}
    assert rels[("authors", "books_author_id_fkey")] == "many-to-one"
    assert rels[("book_tags", "book_tags_book_id_fkey")] == "one-to-many"
    assert rels[("tags", "book_tags_book_id_fkey")] == "many-to-many"
    assert ("tags", "loose_book_id_fkey") not in rels
    assert rels[("loose", "loose_book_id_fkey")] == "one-to-many"
    one = {r.foreign_table: r.cardinality for r in relationships_from(SCHEMA, "authors")}
    assert one["profiles"] == "one-to-one"
    assert {r.cardinality for r in relationships_from(SCHEMA, "profiles")} == {"one-to-one"}


@pytest.mark.parametrize(
    ("origin", "target", "hint", "foreign", "cardinality"),
    [
        ("books", "authors", None, "authors", "many-to-one"),
        ("books", "author_id", None, "authors", "many-to-one"),
        ("books", "books_author_id_fkey", None, "authors", "many-to-one"),
        ("books", "people", "buyer_id", "people", "many-to-one"),
        ("books", "people", "books_seller_id_fkey", "people", "many-to-one"),
        ("people", "books", "buyer_id", "books", "one-to-many"),
        ("books", "tags", None, "tags", "many-to-many"),
        ("books", "tags", "book_tags", "tags", "many-to-many"),
        ("nodes", "nodes", None, "nodes", "one-to-many"),
        ("nodes", "parent_id", None, "nodes", "many-to-one"),
        ("nodes", "nodes", "parent_id", "nodes", "one-to-many"),
    ],
)
def test_find_relationship(origin: str, target: str, hint: str | None, foreign: str, cardinality: str) -> None:
    rel = find_relationship(SCHEMA, origin, target, hint, "public")
    assert (rel.foreign_table, rel.cardinality) == (foreign, cardinality)


def test_ambiguous_relationship_lists_candidates() -> None:
    with pytest.raises(ApiError) as info:
        find_relationship(SCHEMA, "books", "people", None, "public")
    assert (info.value.status, info.value.code) == (300, "PGRST201")
    assert info.value.hint == (
        "Try changing 'people' to one of the following: 'people!books_buyer_id_fkey', "
        "'people!books_seller_id_fkey'. Find the desired relationship in the 'details' key."
    )


def test_m2m_details_name_the_junction() -> None:
    schema = Schema(
        {
            **SCHEMA.tables,
            "book_tags2": table(
                "book_tags2",
                ["book_id", "tag_id"],
                pk=("book_id", "tag_id"),
                fks=(fk("book_tags2", ("book_id",), "books"), fk("book_tags2", ("tag_id",), "tags")),
            ),
        }
    )
    with pytest.raises(ApiError) as info:
        find_relationship(schema, "books", "tags", None, "public")
    assert info.value.details == [
        {
            "cardinality": "many-to-many",
            "embedding": "books with tags",
            "relationship": "book_tags2 using book_tags2_book_id_fkey(book_id) and book_tags2_tag_id_fkey(tag_id)",
        },
        {
            "cardinality": "many-to-many",
            "embedding": "books with tags",
            "relationship": "book_tags using book_tags_book_id_fkey(book_id) and book_tags_tag_id_fkey(tag_id)",
        },
    ]
    assert info.value.hint == (
        "Try changing 'tags' to one of the following: 'tags!book_tags2', 'tags!book_tags'. "
        "Find the desired relationship in the 'details' key."
    )
    assert find_relationship(schema, "books", "tags", "book_tags2", "public").junction.table == "book_tags2"  # type: ignore[union-attr]


def test_lookup_table_hint() -> None:
    with pytest.raises(ApiError) as info:
        lookup_table(SCHEMA, "bokks")
    assert (info.value.code, info.value.hint) == ("PGRST205", "Perhaps you meant the table 'public.books'")
    assert lookup_table(SCHEMA, "books").name == "books"


def test_plan_tree_aliases_and_keys() -> None:
    root = plan("select=id,a:authors(name),tags!inner(*),buyer:people!buyer_id()&tags.name=eq.x&buyer=not.is.null")
    assert root.alias == "t0"
    a, tags, buyer = root.children
    assert (a.alias, a.key, a.name, a.rel.cardinality if a.rel else None) == ("t1", "a", "authors", "many-to-one")
    assert tags.inner and [i.key for i in tags.items if isinstance(i, OutField)] == ["id", "name"]
    assert not buyer.has_output
    assert isinstance(tags.where[0], PFilter)
    assert root.where == [PEmbedNull(buyer, is_null=False)]


def test_plan_logic_and_paging() -> None:
    root = plan("select=id,authors(id)&or=(id.eq.1,title.eq.x)&authors.limit=2&limit=5&offset=3", "books")
    assert isinstance(root.where[0], PLogic)
    assert (root.limit, root.offset, root.children[0].limit) == (5, 3, 2)
    capped = plan_read(
        SCHEMA,
        "books",
        parse_read([("select", "id,authors(id)")], max_terms=9, max_depth=9),
        dialect=SQLITE,
        max_rows=7,
    )
    assert (capped.limit, capped.children[0].limit) == (7, 7)


def test_embedded_filter_on_unselected_embed() -> None:
    with pytest.raises(ApiError) as info:
        plan_read(
            SCHEMA,
            "books",
            parse_read([("select", "id")], max_terms=9, max_depth=9).__class__(
                select=parse_read([("select", "id")], max_terms=9, max_depth=9).select, where={("authors",): []}
            ),
            dialect=SQLITE,
        )
    assert info.value.code == "PGRST108"


def test_aliased_embed_hint_in_pgrst108() -> None:
    from backstack.rest.request.query import Embed, Field, ReadQuery, SelectField, Star

    query = ReadQuery(
        select=(SelectField(Field("id")), Embed("authors", (Star(),), alias="a")), limit={("authors",): 1}
    )
    with pytest.raises(ApiError) as info:
        plan_read(SCHEMA, "books", query, dialect=SQLITE)
    assert (info.value.code, info.value.hint) == ("PGRST108", "Change 'authors' to 'a' in filters, orders or limits.")


@pytest.mark.parametrize(
    ("cast", "sqlite", "expected"),
    [
        ("int", True, "int"),
        ("TEXT", True, "text"),
        ("jsonb", False, "jsonb"),
        ("mytype", False, "mytype"),
    ],
)
def test_resolve_cast(cast: str, sqlite: bool, expected: str) -> None:
    assert resolve_cast(cast, SQLITE if sqlite else POSTGRES) == expected


@pytest.mark.parametrize(
    ("cast", "sqlite", "code"),
    [
        ("uuid", True, "PGRST127"),
        ("int); drop table x", False, "42704"),
        ("a b", False, "42704"),
    ],
)
def test_resolve_cast_refuses(cast: str, sqlite: bool, code: str) -> None:
    with pytest.raises(ApiError) as info:
        resolve_cast(cast, SQLITE if sqlite else POSTGRES)
    assert info.value.code == code


def test_fts_config_must_be_a_name() -> None:
    from backstack.rest.request.query import Field, Filter, ReadQuery, Star

    query = ReadQuery(select=(Star(),), where={(): [Filter(Field("title"), "fts", "x", fts_config="x'y")]})
    with pytest.raises(ApiError) as info:
        plan_read(SCHEMA, "books", query, dialect=POSTGRES)
    assert info.value.code == "PGRST100"
