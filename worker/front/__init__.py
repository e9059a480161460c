"""The agents' doors onto the fleet: ``client`` (call a tool by name, validated
before anything is sent). The same catalog and policy serve every door."""
