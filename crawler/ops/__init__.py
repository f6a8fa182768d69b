"""Operating what raqib talks to: a local Elasticsearch node and the Kibana objects."""
