{#- on-run-start (the first hook): drop the relations a killed build left behind.
    dbt's table and view materializations (and an incremental model's full refresh) build the new relation
    as <name>__dbt_tmp in the model's schema, rename the old one to <name>__dbt_backup, rename the new one
    into place, commit, and only then drop the backup. A run killed between that commit and the drop leaves
    <name>__dbt_backup for good; <name>__dbt_tmp survives a kill where the statements commit one by one (a
    profile with `autocommit: true`, a materialization run by hand). dbt itself drops them only when it
    rebuilds that same model. (An incremental model's own __dbt_tmp is a session temporary table: it goes
    with the session.) A build in progress with this project's profile never shows its __dbt_tmp: it is
    created, renamed and committed in one transaction, so dropping what is visible cannot break it.

    What is dropped: tables, views and materialized views whose name ends in __dbt_tmp (optionally followed
    by digits) or __dbt_backup, in the schemas this invocation's models, seeds and snapshots are built in
    (read off the graph: staging, intermediate, marts, seeds, or marts_full... under --vars
    '{schema_suffix: _full}'), in the target database. A name that merely contains "dbt" is not a leftover.
    What is kept: a leftover that any other relation still reads (a view over it, a foreign key to it, a
    column of its row type, or anything not a relation), directly or through other leftovers. Such a view
    was bound to the old table by the rename and reads stale rows; dropping the leftover would drop the view.
    It is logged; once the view is rebuilt (dbt run -s the view), the next build drops the leftover.
    Identifiers are quoted by the server (every name double-quoted); each drop is `if exists ... cascade`,
    and cascade reaches only the leftover's own parts and other leftovers, as checked above. -#}
{% macro drop_leftover_relations() %}
    {%- if not execute -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set schemas = graph.nodes.values() | selectattr('resource_type', 'in', ['model', 'seed', 'snapshot'])
        | map(attribute='schema') | unique | list -%}
    {%- if not schemas -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set found = run_query(leftover_relations_sql(schemas)) -%}
    {%- set drops = [] -%}
    {%- for row in found.rows -%}
        {%- if row['kept_for'] -%}
            {{ log('drop_leftover_relations: kept ' ~ row['kind'] ~ ' ' ~ row['quoted_name']
                ~ ': still read by ' ~ row['kept_for'] ~ ' (rebuild that, and the next build drops it)', info=True) }}
        {%- else -%}
            {%- do drops.append('drop ' ~ row['kind'] ~ ' if exists ' ~ row['quoted_name'] ~ ' cascade') -%}
            {#- dbt listed the schemas before this hook: forget the relation, so no model drops it again -#}
            {%- do adapter.cache_dropped(api.Relation.create(
                database=target.database, schema=row['schema_name'], identifier=row['relation_name'])) -%}
            {{ log('drop_leftover_relations: dropping ' ~ row['kind'] ~ ' ' ~ row['quoted_name']
                ~ ' (left by a killed build)', info=True) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(drops | join(';\n') if drops else 'select 1') }}
{% endmacro %}

{#- The leftovers in the given schemas: schema_name, relation_name, kind (the drop keyword), quoted_name
    ("schema"."name"), and kept_for: the relations outside the leftovers that read it (null when it can go).
    Readers first, so a view over a leftover table is dropped before the table. -#}
{% macro leftover_relations_sql(schemas) %}
    with recursive leftover as (
        select
            c.oid,
            c.reltype,
            c.relkind,
            n.nspname,
            c.relname
        from pg_catalog.pg_class as c
        inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
        where
            n.nspname in ({{ sql_text_literals(schemas) }})
            and c.relkind in ('r', 'p', 'v', 'm')
            and c.relname ~ '__dbt_(tmp[0-9]*|backup)$'
    ),

    -- what depends on a leftover (or its row type) by a normal dependency, as the relation that holds it;
    -- null: an object that is not part of a relation (a function, a type), which keeps the leftover
    direct_reader as (
        select
            l.oid as read_oid,
            case dep.classid
                when 'pg_catalog.pg_rewrite'::regclass then
                    (select rw.ev_class from pg_catalog.pg_rewrite as rw where rw.oid = dep.objid)
                when 'pg_catalog.pg_constraint'::regclass then
                    (select nullif(con.conrelid, 0) from pg_catalog.pg_constraint as con where con.oid = dep.objid)
                when 'pg_catalog.pg_class'::regclass then dep.objid
                when 'pg_catalog.pg_attrdef'::regclass then
                    (select ad.adrelid from pg_catalog.pg_attrdef as ad where ad.oid = dep.objid)
            end as reader_oid
        from leftover as l
        inner join pg_catalog.pg_depend as dep
            on
                dep.deptype = 'n'
                and (
                    (dep.refclassid = 'pg_catalog.pg_class'::regclass and dep.refobjid = l.oid)
                    or (dep.refclassid = 'pg_catalog.pg_type'::regclass and dep.refobjid = l.reltype)
                )
    ),

    reader (leftover_oid, reader_oid) as (
        select
            d.read_oid,
            d.reader_oid
        from direct_reader as d
        where d.reader_oid is distinct from d.read_oid
        union
        select
            r.leftover_oid,
            d.reader_oid
        from reader as r
        inner join direct_reader as d on r.reader_oid = d.read_oid
        where d.reader_oid is distinct from d.read_oid
    )

    select
        l.nspname as schema_name,
        l.relname as relation_name,
        case l.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end as kind,
        '"' || replace(l.nspname, '"', '""') || '"."' || replace(l.relname, '"', '""') || '"' as quoted_name,
        (
            select
                string_agg(
                    coalesce(
                        (
                            select quote_ident(rn.nspname) || '.' || quote_ident(rc.relname)
                            from pg_catalog.pg_class as rc
                            inner join pg_catalog.pg_namespace as rn on rc.relnamespace = rn.oid
                            where rc.oid = r.reader_oid
                        ),
                        'an object that is not a relation'
                    ),
                    ', ' order by r.reader_oid
                )
            from reader as r
            where
                r.leftover_oid = l.oid
                and (r.reader_oid is null or r.reader_oid not in (select lo.oid from leftover as lo))
        ) as kept_for
    from leftover as l
    order by l.relkind = 'v' desc, l.relkind = 'm' desc, l.nspname, l.relname
{% endmacro %}
