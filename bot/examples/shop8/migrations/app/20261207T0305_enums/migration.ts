#!/usr/bin/env -S node
import type { Contract as End } from '../../snapshots/8d9824af3ed4874e15cc423440ca178018db9ed14b06d006b3286645bcd7bdfe/contract';
import endContract from '../../snapshots/8d9824af3ed4874e15cc423440ca178018db9ed14b06d006b3286645bcd7bdfe/contract.json' with { type: 'json' };
import type { Contract as Start } from '../../snapshots/cdffca7f2206bdf874adce6c738da6a94fdfb08a7216f3c42910c411f4c46390/contract';
import startContract from '../../snapshots/cdffca7f2206bdf874adce6c738da6a94fdfb08a7216f3c42910c411f4c46390/contract.json' with { type: 'json' };
import {
  Migration,
  MigrationCLI,
  checkExpression,
  col,
  lit,
  primaryKey,
} from '@prisma/orm-postgres/migration';

export default class M extends Migration<Start, End> {
  override readonly startContractJson = startContract;
  override readonly endContractJson = endContract;

  override get operations() {
    return [
      this.createNativeEnumType({ schema: 'public', typeName: 'Role', members: ['USER', 'ADMIN'] }),
      this.createTable({
        schema: 'public',
        table: 'Media',
        columns: [
          col('id', 'SERIAL', { notNull: true, codecRef: { codecId: 'pg/int4@1' } }),
          col('kind', 'text', { notNull: true, codecRef: { codecId: 'pg/text@1' } }),
        ],
        constraints: [
          primaryKey(['id']),
          checkExpression('Media_kind_check_cb2cdfcd', "\"kind\" IN ('image', 'video')"),
        ],
      }),
      this.addColumn({
        schema: 'public',
        table: 'User',
        column: col('role', '"Role"', {
          notNull: true,
          default: lit('USER'),
          codecRef: { codecId: 'pg/enum@1', typeParams: { typeName: 'Role' } },
        }),
      }),
    ];
  }
}

MigrationCLI.run(import.meta.url, M);
