/**
 * The settings table (src/config.ts `SETTINGS`) as the CLI and the README present it: every flag a command
 * takes for a setting, its `--help` line and the README's "Configuration" table are generated here, so a
 * setting is declared once. Commands turn their flags into config overrides with {@link configFromFlags}, so
 * every command reads settings through `loadConfig` (src/config.ts reads the environment only when the CLI
 * passes it in) and reports mistakes the same way.
 */
import type { z } from 'zod';
import { loadConfig, plainText, SETTINGS, type Config, type ConfigOverrides, type Setting } from '../config.js';
import { isRoomrunnerError } from '../errors.js';
import { UsageError, type FlagSpec } from './args.js';

type Settings = typeof SETTINGS;
type SettingKey = keyof Settings;
type FlaggedKey = { [K in SettingKey]: Settings[K] extends { readonly flag: string } ? K : never }[SettingKey];
type FlagNames = { [K in FlaggedKey]: Settings[K] extends { readonly flag: `--${infer F}` } ? F : never };
/** Every flag a setting has, without its dashes (`port`, `webhook-secret`, …). */
export type SettingFlagName = FlagNames[FlaggedKey];
type KeyOfFlag<F extends SettingFlagName> = { [K in FlaggedKey]: FlagNames[K] extends F ? K : never }[FlaggedKey];
type FlagType<F extends SettingFlagName> = z.output<Settings[KeyOfFlag<F>]['schema']> extends boolean ? 'boolean' : 'string';
/** The flag specs {@link settingFlags} makes, typed so parsed values are booleans for switches. */
export type SettingFlagSpecs<F extends SettingFlagName> = { readonly [N in F]: FlagSpec & { readonly type: FlagType<N> } };

const ENTRIES = Object.entries(SETTINGS) as ReadonlyArray<[SettingKey, Setting]>;

/** Flag name (no dashes) → config key, for every setting that has a flag. */
export const CONFIG_FLAGS: Readonly<Record<SettingFlagName, keyof Config>> = Object.freeze(
  Object.fromEntries(ENTRIES.filter(([, s]) => s.flag !== undefined).map(([key, s]) => [s.flag!.slice(2), key])) as Record<SettingFlagName, keyof Config>,
);

/** Every setting flag, in table order (what `roomrunner serve` takes). */
export const ALL_SETTING_FLAGS = Object.keys(CONFIG_FLAGS) as SettingFlagName[];

/** A setting's default value as the schema gives it (undefined when it has none). */
function schemaDefault(setting: Setting): unknown {
  const parsed = setting.schema.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}

function isSwitch(setting: Setting): boolean {
  return typeof schemaDefault(setting) === 'boolean';
}

const UNITS: ReadonlyArray<[number, string]> = [
  [86_400_000, 'days'],
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
];

/** `60000 (60 s)`, `3600000 (1 h)`: a duration in milliseconds with its value in words. */
function durationText(ms: number): string {
  if (ms < 1000) return String(ms);
  // The largest unit that divides it (none for e.g. 1500: seconds, with a fraction).
  const [unit, name] = UNITS.find(([size]) => ms % size === 0) ?? [1000, 's'];
  const count = ms / unit;
  // Under two minutes reads best in seconds (72 s, 90 s); an hour or a day in its own unit.
  const [shown, label] = unit === 60_000 && count < 2 ? [ms / 1000, 's'] : [count, name === 'days' && count === 1 ? 'day' : name];
  return `${ms} (${shown} ${label})`;
}

/** A setting's default, in markdown (the README's "default" column). */
export function defaultMarkdown(key: SettingKey, setting: Setting = SETTINGS[key]): string {
  if (setting.defaultText !== undefined) return setting.defaultText;
  const value = schemaDefault(setting);
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return '—';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') return key.endsWith('Ms') ? durationText(value) : String(value);
  if (typeof value === 'string') return `\`${value}\``;
  return `\`${JSON.stringify(value)}\``;
}

/**
 * The `--help` specs of the given setting flags: type, placeholder, env var, default and help line all from
 * the table. `descriptions` rewords a line for one command (what the setting means there); nothing else
 * may differ.
 */
export function settingFlags<const F extends SettingFlagName>(names: readonly F[], descriptions: Partial<Record<F, string>> = {}): SettingFlagSpecs<F> {
  const specs: Record<string, FlagSpec> = {};
  for (const name of names) {
    const key = CONFIG_FLAGS[name] as SettingKey;
    const setting: Setting = SETTINGS[key];
    const shownDefault = plainText(defaultMarkdown(key, setting));
    specs[name] = {
      type: isSwitch(setting) ? 'boolean' : 'string',
      description: descriptions[name] ?? setting.help ?? plainText(setting.doc),
      ...(setting.placeholder === undefined ? {} : { placeholder: setting.placeholder }),
      ...(setting.env[0] === undefined ? {} : { env: setting.env[0] }),
      ...(shownDefault === '—' || shownDefault.startsWith('— ') || isSwitch(setting) ? {} : { defaultText: shownDefault }),
    };
  }
  return specs as SettingFlagSpecs<F>;
}

const TABLE_START = '<!-- settings:start (generated from src/config.ts by `npm run docs:settings`; do not edit by hand) -->';
const TABLE_END = '<!-- settings:end -->';

/** The README's "Configuration" table, one row per setting in table order. */
export function settingsTableMarkdown(): string {
  const rows = ENTRIES.map(([key, s]) => {
    const env = s.env.map((name) => `\`${name}\``).join(' / ');
    const flag = s.flag === undefined ? '' : `\`${s.flag}\``;
    return `| ${env} | ${flag} | ${defaultMarkdown(key, s)} | ${s.doc} |`;
  });
  return [TABLE_START, '| env var | flag | default | what it sets |', '|---|---|---|---|', ...rows, TABLE_END].join('\n');
}

/**
 * `readme` with its settings table replaced by {@link settingsTableMarkdown}.
 * @throws Error when the README has no (or a broken) pair of settings markers.
 */
export function withSettingsTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no settings table markers (${TABLE_START} … ${TABLE_END})`);
  return readme.slice(0, start) + settingsTableMarkdown() + readme.slice(end + TABLE_END.length);
}

/** Load the config with the given flag values on top of `env`; a bad value is a UsageError. */
export function configFromFlags(
  values: Readonly<Record<string, string | boolean | undefined>>,
  given: ReadonlySet<string>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config {
  const overrides: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(CONFIG_FLAGS)) {
    if (given.has(flag) && values[flag] !== undefined) overrides[key] = values[flag];
  }
  try {
    return loadConfig(overrides as ConfigOverrides, env);
  } catch (error) {
    if (isRoomrunnerError(error, 'RR_CONFIG_INVALID')) throw new UsageError(error.message);
    throw error;
  }
}
