{#-
    The segment definition models: every enabled model of this project tagged `segment` (dbt_project.yml tags
    the folder models/marts/segments/definitions/), as a list of {'segment_name', 'relation'}, sorted by name.
    The segment name is the model name without its `segment_` prefix.

    Discovery reads the graph, so it only works at execution time (empty list while dbt parses). It returns the
    relations, not ref()s: dbt cannot infer dependencies found in the graph (see docs/segments.md, "Ordering").
-#}
{% macro segment_definitions() -%}
    {%- set definitions = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values()
            | selectattr('resource_type', 'equalto', 'model')
            | selectattr('package_name', 'equalto', project_name)
            | sort(attribute='name') -%}
            {%- if 'segment' in node.tags and node.config.enabled -%}
                {%- do definitions.append({
                    'segment_name': node.name | replace('segment_', '', 1),
                    'relation': api.Relation.create(
                        database=node.database, schema=node.schema, identifier=node.alias
                    ),
                }) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(definitions) }}
{%- endmacro %}
