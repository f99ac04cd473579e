#!/usr/bin/env -S node
import type { Contract as Start } from '../../snapshots/8d9824af3ed4874e15cc423440ca178018db9ed14b06d006b3286645bcd7bdfe/contract';
import startContract from '../../snapshots/8d9824af3ed4874e15cc423440ca178018db9ed14b06d006b3286645bcd7bdfe/contract.json' with { type: 'json' };
import type { Contract as End } from '../../snapshots/8ff655e8bafc5bcfcfaa11bb19fb71e7d26e93f601ecf16e5569dcac7a03147d/contract';
import endContract from '../../snapshots/8ff655e8bafc5bcfcfaa11bb19fb71e7d26e93f601ecf16e5569dcac7a03147d/contract.json' with { type: 'json' };
import { Migration, MigrationCLI, col, primaryKey } from '@prisma/orm-postgres/migration';

export default class M extends Migration<Start, End> {
  override readonly startContractJson = startContract;
  override readonly endContractJson = endContract;

  override get operations() {
    return [
      this.createTable({
        schema: 'public',
        table: 'Post',
        columns: [
          col('id', 'SERIAL', { notNull: true, codecRef: { codecId: 'pg/int4@1' } }),
          col('title', 'text', { notNull: true, codecRef: { codecId: 'pg/text@1' } }),
        ],
        constraints: [primaryKey(['id'])],
      }),
    ];
  }
}

MigrationCLI.run(import.meta.url, M);
