/** `roomrunner agents`: list the agents found in the agents folder, with their JSON Schemas. */
import { discoverAgents } from '../agents/discover.js';
import { toolkitRegistration } from '../agents/host.js';
import { formatHelp, parseFlags, reportFailure, type FlagSpecs } from './args.js';
import { configFromFlags, settingFlags } from './config-flags.js';
import type { Command } from './main.js';

const FLAGS = {
  ...settingFlags(['agents'], { agents: 'Folder the agents are loaded from.' }),
  json: { type: 'boolean', description: 'Print one JSON document instead of text.' },
} as const satisfies FlagSpecs;

export const command: Command = {
  summary: 'list the agents found, with their JSON Schemas',
  async run(argv) {
    try {
      const parsed = parseFlags(argv, FLAGS);
      if (parsed.help) {
        console.log(formatHelp('agents', 'List the agents in the agents folder with the JSON Schemas rooms see.', FLAGS));
        return 0;
      }
      const config = configFromFlags(parsed.values, parsed.given);
      const found = await discoverAgents(config.agentsDir);
      const described = found.map(({ toolkit, file, exportName }) => ({
        name: toolkit.name,
        title: toolkit.title,
        description: toolkit.description,
        public: toolkit.public,
        file,
        export: exportName,
        tools: Object.fromEntries(
          Object.entries(toolkit.tools).map(([name, tool]) => [
            name,
            { timeoutMs: tool.timeoutMs, concurrency: tool.concurrency, input: tool.inputJsonSchema, output: tool.outputJsonSchema },
          ]),
        ),
        // Exactly the `room.register_toolkit` header rooms receive (schemas in the form LLM agents accept).
        registration: toolkitRegistration(toolkit),
      }));
      if (parsed.values.json) {
        console.log(JSON.stringify({ agents: described }, null, 2));
        return 0;
      }
      if (described.length === 0) console.log(`no agents in ${config.agentsDir}`);
      for (const agent of described) {
        console.log(`${agent.name}  (${agent.file}, export ${agent.export})${agent.description ? `\n  ${agent.description}` : ''}`);
        for (const [name, tool] of Object.entries(agent.tools)) {
          console.log(`  tool ${name}: timeout ${tool.timeoutMs} ms, concurrency ${tool.concurrency}`);
          console.log(`    input:  ${JSON.stringify(tool.input)}`);
          console.log(`    output: ${JSON.stringify(tool.output)}`);
        }
      }
      return 0;
    } catch (error) {
      return reportFailure('agents', error);
    }
  },
};
