-- Tenants and the eleven entity tables (PROTOCOL "Server tables").
-- server_version comes from ONE sequence, bumped by a trigger on every INSERT and UPDATE from any writer.
-- REPLICA IDENTITY FULL: an UPDATE's WAL record then carries the old row with TOASTed values flattened, so a
-- large column the UPDATE did not touch is still delivered in the change's payload.

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE server_version_seq AS bigint;

CREATE FUNCTION sync_bump_server_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.server_version := nextval('server_version_seq');
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TABLE academic_years (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  label text NOT NULL,
  start_date date NOT NULL,
  end_date date NOT NULL,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE school_levels (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  name text NOT NULL,
  rank integer NOT NULL,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE classes (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  name text NOT NULL,
  school_level_id uuid NOT NULL,
  academic_year_id uuid NOT NULL,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, school_level_id) REFERENCES school_levels (tenant_id, id),
  FOREIGN KEY (tenant_id, academic_year_id) REFERENCES academic_years (tenant_id, id)
);

CREATE TABLE students (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  first_name text NOT NULL,
  last_name text NOT NULL,
  birth_date date,
  class_id uuid,
  notes text,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, class_id) REFERENCES classes (tenant_id, id)
);

CREATE TABLE teachers (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  first_name text NOT NULL,
  last_name text NOT NULL,
  email text,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE exams (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  class_id uuid NOT NULL,
  subject text NOT NULL,
  date date NOT NULL,
  max_score numeric NOT NULL CHECK (max_score > 0),
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, class_id) REFERENCES classes (tenant_id, id)
);

CREATE TABLE grades (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  exam_id uuid NOT NULL,
  student_id uuid NOT NULL,
  score numeric NOT NULL,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, exam_id) REFERENCES exams (tenant_id, id),
  FOREIGN KEY (tenant_id, student_id) REFERENCES students (tenant_id, id)
);

CREATE TABLE payments (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  student_id uuid NOT NULL,
  amount_cents bigint NOT NULL,
  currency text NOT NULL,
  paid_at timestamptz NOT NULL,
  method text NOT NULL,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, student_id) REFERENCES students (tenant_id, id)
);

CREATE TABLE attendances (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  student_id uuid NOT NULL,
  class_id uuid NOT NULL,
  date date NOT NULL,
  status text NOT NULL CHECK (status IN ('PRESENT', 'LATE', 'ABSENT')),
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, student_id) REFERENCES students (tenant_id, id),
  FOREIGN KEY (tenant_id, class_id) REFERENCES classes (tenant_id, id)
);

CREATE TABLE absences (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  student_id uuid NOT NULL,
  date date NOT NULL,
  reason text NOT NULL,
  justified boolean NOT NULL DEFAULT false,
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, student_id) REFERENCES students (tenant_id, id)
);

CREATE TABLE disciplinary_incidents (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL,
  student_id uuid NOT NULL,
  date date NOT NULL,
  description text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH')),
  server_version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, student_id) REFERENCES students (tenant_id, id)
);

-- Foreign keys are indexed on the referencing side so deletes of a parent do not scan the child table.
CREATE INDEX classes_school_level_idx ON classes (tenant_id, school_level_id);
CREATE INDEX classes_academic_year_idx ON classes (tenant_id, academic_year_id);
CREATE INDEX students_class_idx ON students (tenant_id, class_id);
CREATE INDEX exams_class_idx ON exams (tenant_id, class_id);
CREATE INDEX grades_exam_idx ON grades (tenant_id, exam_id);
CREATE INDEX grades_student_idx ON grades (tenant_id, student_id);
CREATE INDEX payments_student_idx ON payments (tenant_id, student_id);
CREATE INDEX attendances_student_idx ON attendances (tenant_id, student_id);
CREATE INDEX attendances_class_date_idx ON attendances (tenant_id, class_id, date);
CREATE INDEX absences_student_idx ON absences (tenant_id, student_id);
CREATE INDEX disciplinary_incidents_student_idx ON disciplinary_incidents (tenant_id, student_id);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['academic_years', 'school_levels', 'classes', 'students', 'teachers', 'exams',
    'grades', 'payments', 'attendances', 'absences', 'disciplinary_incidents']
  LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION sync_bump_server_version()',
      t || '_server_version', t);
    EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', t);
  END LOOP;
END;
$$;
